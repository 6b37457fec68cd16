package streamlog

import "errors"

// Sentinel errors; match with errors.Is.
var (
	// ErrConflict: another writer appended to the subject since the
	// expected sequence; nothing was written. Reload and decide again.
	ErrConflict = errors.New("streamlog: conflict")
	// ErrUnavailable: the stream could not be reached or did not confirm;
	// the outcome of an append is unknown.
	ErrUnavailable = errors.New("streamlog: unavailable")
)

// MaxAttempts bounds the attempts, the first included, of a writer that
// reloads and decides again after each ErrConflict; past it the conflict is
// the writer's answer. A subject has one owner at a time, so losing that
// often means other instances are writing the same key without pause, and
// the caller should hear of it rather than spin. Conflict retries do not
// sleep: the reload is the wait, and opens must not queue behind a timer.
const MaxAttempts = 16
