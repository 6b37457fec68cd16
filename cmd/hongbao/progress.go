package main

import (
	"io"
	"time"

	"github.com/hongbao/hongbao/cmd/hongbao/internal/progress"
	"github.com/hongbao/hongbao/projections"
)

// progressPrinter shows the progress reports of rebuild and verify jobs
// with the command's printer (package progress): one bar per projection
// and phase, rewritten in place on a terminal, a line a second otherwise.
type progressPrinter struct {
	p   *progress.Printer
	bar *progress.Bar
	key string // projection and phase of bar
}

func newProgressPrinter(w io.Writer) *progressPrinter {
	return &progressPrinter{p: progress.New(w, progress.IsTerminal(w), time.Second)}
}

// show reports one job's progress; a new projection or phase starts a new
// bar, and phase "done" finishes it.
func (pp *progressPrinter) show(pr projections.Progress) {
	if pr.Projection == "" {
		return // a job that has not reported yet
	}
	key := pr.Projection + " " + pr.Phase
	if pr.Phase == "done" && pp.bar != nil {
		key = pp.key // the last phase's bar ends at its total
	}
	if key != pp.key || pp.bar == nil {
		pp.done()
		pp.bar, pp.key = pp.p.Start(key, "events", int64(pr.Total)), key
	}
	pp.bar.Set(int64(pr.Position))
	if pr.Phase == "done" {
		pp.done()
	}
}

// done finishes the current bar, if any.
func (pp *progressPrinter) done() {
	if pp.bar != nil {
		pp.bar.Finish()
		pp.bar, pp.key = nil, ""
	}
}
