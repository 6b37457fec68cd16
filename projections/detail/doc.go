// Package detail owns the per-envelope detail read model (详情): the
// envelope's summary and its opens in order, with best luck marked once the
// envelope is finished. hongbao.get.<id> reads it (Get), and pages an
// envelope the view has not projected yet alike (FromAggregate). A cursor
// is the 1-based index of a page's first open (ParseCursor).
//
// Rows (all under the prefix "d/"), binary values (projector.RowCodec),
// format 2:
//
//	d/e/<id>                 summary: who, what, state (envelope.Status name), opened count/total,
//	                         refund, best open so far
//	d/o/<id><index uint32be> one open: user, amount, time, stream sequence
//
// Invariants: best_luck is on exactly one open of a finished envelope (the
// largest amount, the earliest on a tie) and on none otherwise; opened
// count and total equal the open rows; rows change only by events, in
// stream order (projector invariants), so a rebuild equals the live model
// (I6).
package detail
