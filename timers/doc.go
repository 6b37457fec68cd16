// Package timers owns the durable timers of envelopes: "look at envelope X
// at time T". The service uses one per envelope that can still change by
// itself: cancel an unpaid envelope at its pay deadline, expire a live one
// at expires_at.
//
// A timer is a key in the JetStream KV bucket HONGBAO_TIMERS (the envelope
// id) whose value is the due time. Every instance watches the whole bucket,
// so timers survive restarts (on start the watch delivers every pending
// timer, and those already due fire at once) and an instance's timers are
// fired by the others if it is gone.
//
// Invariants:
//
//  1. A timer is written before the event that makes it necessary (Set,
//     then append Wrapped or Paid), so no envelope can be live without a
//     pending timer. A timer for an event that never landed is harmless:
//     firing it only makes the owner look at the envelope's state.
//  2. Firing is at-least-once. The owner's handler decides from the
//     envelope's state what, if anything, is due, and then deletes or moves
//     the timer; it is never removed before that.
//  3. Deleted timers leave purge markers that JetStream removes after
//     MarkerTTL, so the bucket holds only pending timers.
package timers
