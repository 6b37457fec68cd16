// Package campaign owns the shake campaign (摇一摇红包, seed 004): a
// sponsor funds count pre-generated tickets worth total fen; users shake to
// win a ticket, then open it. Like package envelope it is pure: state is
// the fold of events (Apply, Fold), a command is decided against the state
// into at most one event or a typed error; no NATS, no clock of its own
// (callers pass now), no randomness of its own (the seed comes in with
// Create), no store.
//
// # Two aggregates, two kinds of subject
//
// Campaign is the campaign's own subject: created, paid, paused, resumed,
// cancelled, ended. Slice k (0 ≤ k < slices) is the subject of the tickets
// [Lo, Hi) = SliceRange(count, slices, k): tickets_reserved, ticket_opened,
// slice_closed. A slice is the unit of ownership (one instance/partition
// owns it, as it owns envelopes) and its subject is its serializer: every
// append carries the slice's last sequence (expected sequence), so two
// writers never both succeed.
//
// # Shares (split.go)
//
// A ticket's amount is a leaf of an implicit binary split tree drawn from
// the seed: Split.Amount(i) in O(log count) SHA-256 blocks (24 at ten
// million tickets, ≈ 4 µs), Split.Sum(from, to) likewise; nothing is
// materialised, and an auditor re-derives any ticket from CampaignCreated.
// The shape is right-skewed around the mean total/count (standard
// deviation about 0.6 of it, a lucky tail up to about five times it),
// clamped to [min_share, max_share] (see Split).
//
// # Shakes from memory, reservations ahead
//
// The owner of a slice hands out its tickets in index order from memory
// (Slice.Shake: no event, no store round trip). Before handing out any
// ticket it makes the ticket's range durable (Slice.Reserve → append
// tickets_reserved → Apply), ahead of need, in batches. After a crash or a
// hand-over, FoldSlice treats every reserved ticket as handed out, so a
// ticket is never handed to two users; the reserved tickets that nobody got
// stay unopened and are refunded at the end (at most one batch per slice
// per crash).
//
// # Per-user limit: the home slice
//
// Every ticket of a user comes from the user's home slice, HomeSlice(user)
// = FNV-1a-64(user) mod slices, so all of one user's opens serialize on one
// subject. The guarantee:
//
//   - Opens: strict. A user opens at most per_user tickets of a campaign
//     (C5), checked where the slice's events serialize, and re-checked by
//     Apply on every fold.
//   - Shakes: from the owner's memory, exact while the owner lives
//     (max(tickets won since load, tickets opened) < per_user), best effort
//     across a crash or hand-over: the new owner knows the user's opens but
//     not the tickets the old owner handed out unopened, so a user may win
//     up to per_user more tickets than allowed, once per such event. Those
//     extra tickets can never be opened beyond per_user (ErrLimit) and are
//     refunded at the end. Making shakes strict would need one durable
//     write per shake, the store round trip the design exists to avoid.
//   - The cost: a user's shakes are served only by the home slice. When
//     the home slice is sold out, the user gets "none" while other slices
//     may still hold tickets. Slices are equal (count/slices ± 1) and users
//     hash uniformly, so slices run out at nearly the same time; the
//     tickets left on other slices are refunded at the end like any
//     unopened ticket. A shake that reaches an instance that does not own
//     the user's home slice is routed (or forwarded) by the user's hash, as
//     envelope commands are by the id's: ErrWrongSlice marks a routing
//     fault, never a client error.
//
// # Tickets
//
// A won ticket is signed (package tickets) over campaign, index and user;
// an open verifies the signature locally, then Slice.Open checks what only
// the slice knows (reserved here, not opened, the limit, the end) and
// decides one ticket_opened per ticket, with the amount re-derived from
// the seed. A retried open of an opened ticket answers ErrAlreadyOpened
// with its amount.
//
// # The end
//
// At ends_at each slice closes (Slice.Close → slice_closed with its
// totals; no open can land after it, the expected sequence guarantees it),
// then Campaign.End adds the closes up into the one campaign_ended,
// refunding exactly total − Σ opened: every ticket not opened, issued or
// not, in one transfer to the sponsor.
//
// # Memory per live campaign
//
// Independent of count except for one bit per reserved ticket:
//
//   - Campaign: a fixed-size struct.
//   - Slice: counters, one reserved watermark (reservations are contiguous,
//     so one integer covers all of them), a bitmap of opened tickets over
//     the reserved range (count/8 bytes for a fully reserved campaign:
//     1.25 MiB at ten million), opens per distinct opener, and on the owner
//     wins per distinct winner since load. A map of opened indexes would
//     cost ~50 B per open and overtake the bitmap once more than one
//     reserved ticket in 400 is opened, which in a shake campaign is nearly
//     all of them; the per-user maps are the price of the per-user limit
//     (nothing smaller can answer "has this user opened per_user tickets"
//     exactly) and grow with users who actually won, not with count.
//
// # Invariants
//
// Numbered after the architecture's I1–I3 (C for campaign); Apply checks
// them on every event it folds, so a corrupted or forged stream fails
// loudly on load; the reconciler checks them again from outside.
//
//	C1  Σ opened + refund ≤ total at every event; equality once ended, and
//	    the refund is exactly total − Σ opened (I1).
//	C2  every ticket's amount is within [min_share, max_share] and equals
//	    Split.Amount of its index; Σ over all tickets = total (I2).
//	C3  a ticket is opened at most once, and only once it is reserved on
//	    its own slice.
//	C4  the reservations of a slice are contiguous, disjoint and inside the
//	    slice; a ticket is handed out only inside a reservation applied
//	    before, and never twice (not even across a crash).
//	C5  a user opens at most per_user tickets, all on the home slice (I3).
//	C6  no open follows its slice's close; the campaign ends once, after
//	    every slice closed.
package campaign
