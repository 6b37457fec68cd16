package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/hongbao/hongbao/projections"
)

// progressPrinter shows rebuild progress: rewritten in place on a terminal,
// a line a second otherwise.
type progressPrinter struct {
	w    io.Writer
	tty  bool
	last time.Time
	open bool
}

func newProgressPrinter(w io.Writer) *progressPrinter {
	p := &progressPrinter{w: w}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

func (p *progressPrinter) show(pr projections.Progress) {
	if pr.Projection == "" {
		return // a job that has not reported yet
	}
	line := progressLine(pr)
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
		p.open = true
		return
	}
	if time.Since(p.last) >= time.Second || pr.Phase == "done" {
		fmt.Fprintln(p.w, line)
		p.last = time.Now()
	}
}

func (p *progressPrinter) done() {
	if p.open {
		fmt.Fprintln(p.w)
		p.open = false
	}
}

func progressLine(pr projections.Progress) string {
	pct := 100.0
	if pr.Total > 0 {
		pct = 100 * float64(pr.Position) / float64(pr.Total)
	}
	const width = 24
	filled := int(pct / 100 * width)
	bar := make([]byte, width)
	for i := range bar {
		bar[i] = '.'
		if i < filled {
			bar[i] = '#'
		}
	}
	return fmt.Sprintf("%-7s %-8s [%s] %5.1f%% %d/%d  %.0f events/s  ETA %s",
		pr.Projection, pr.Phase, bar, pct, pr.Position, pr.Total, pr.Rate, pr.ETA.Round(time.Second))
}
