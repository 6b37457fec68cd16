package invariants

import (
	"errors"
	"fmt"
)

// ErrViolated marks every invariant violation; match with errors.Is.
var ErrViolated = errors.New("invariants: violated")

// Check returns nil when ok holds. Otherwise it panics when Enabled, and
// returns an error wrapping ErrViolated when not.
func Check(ok bool, format string, args ...any) error {
	if ok {
		return nil
	}
	err := fmt.Errorf("%w: %s", ErrViolated, fmt.Sprintf(format, args...))
	if Enabled {
		panic(err)
	}
	return err
}
