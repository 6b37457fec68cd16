// Package invariants decides what a broken money invariant does: in builds
// with the `invariants` or `race` tag (tests run with -race) it panics at
// the spot, so a test shows the first place the books went wrong; in
// production builds the caller gets an error and refuses the operation.
package invariants
