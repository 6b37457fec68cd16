// Package users owns the per-user read models: what a user received and
// what a user sent, per year, newest first, with yearly totals kept
// incrementally. hongbao.user.received and hongbao.user.sent read it.
//
// Rows (prefix "u/"; users are [A-Za-z0-9_-], so "/" separates safely),
// binary values (projector.RowCodec), format 2:
//
//	u/x/<id>                                per-envelope helper: sender, sent row, best open so far
//	u/r/<user>/<year uint16be><^seq uint64be> a received share (seq: its Opened event)
//	u/s/<user>/<year uint16be><^seq uint64be> a sent envelope (seq: its Paid event)
//	u/tr/<user>/<year uint16be>             received totals: count, amount, best-luck count
//	u/ts/<user>/<year uint16be>             sent totals: count, amount
//
// Keys hold the bitwise complement of the stream sequence, so a forward scan
// is newest first. A cursor is the sequence of the last item returned; the
// next page starts strictly after it, so pages stay stable while new items
// arrive (they sort before the first page and never shift later ones).
//
// Years are calendar years in China Standard Time (UTC+8, no daylight
// saving): a share opened at 2027-01-01 00:30 in Beijing counts for 2027.
// An envelope enters its sender's list when it is paid (发), not when wrapped.
//
// Invariants: totals equal the sum of their year's items; a finished
// envelope gives best luck to exactly one received item (the largest share,
// the earliest on a tie) and counts it once in that user's totals; a rebuild
// equals the live model (I6).
package users
