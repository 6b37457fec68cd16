// Package wallets owns the wallet read model: every account's balance and
// every wallet's entries, projected from the LEDGER stream (not from
// envelope events: a wallet shows only what the ledger has booked).
// hongbao.wallet.<user> reads it.
//
// Rows (prefix "w/"):
//
//	w/b/<account>                  balance (JSON integer, fen)
//	w/e/<user>/<^seq uint64be>     one wallet entry, newest first
//
// Invariants: a balance is the sum of its account's credits minus its debits
// over the ledger up to the checkpoint, so the balances sum to zero (I5);
// a rebuild equals the live model (I6).
package wallets
