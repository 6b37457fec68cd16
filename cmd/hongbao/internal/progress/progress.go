package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"
)

// Printer writes the progress of tasks to one writer. A nil Printer, or one
// on a nil writer, prints nothing; its bars still count.
//
// On a terminal (inPlace) each task is drawn as a bar by
// github.com/schollz/progressbar, redrawn in place; otherwise (CI, pipes,
// files) a plain line is written every interval. Either way a task ends
// with one plain final line, its rate over the whole task.
type Printer struct {
	w       io.Writer
	inPlace bool
	every   time.Duration
	mu      sync.Mutex // one line at a time
}

// New returns a printer on w. inPlace draws a bar redrawn in place (for a
// terminal, see [IsTerminal]); otherwise a line is written every interval
// (one second when every is not positive).
func New(w io.Writer, inPlace bool, every time.Duration) *Printer {
	if every <= 0 {
		every = time.Second
	}
	return &Printer{w: w, inPlace: inPlace, every: every}
}

// IsTerminal reports whether w is a character device (a terminal).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// Bar is one task's progress. Its methods are safe for concurrent use.
type Bar struct {
	p           *Printer
	name, unit  string
	total       int64
	done        atomic.Int64
	start       time.Time
	stop, ended chan struct{}
	once        sync.Once
	bar         *progressbar.ProgressBar // on a terminal
}

// redraw is how often a terminal's bar is redrawn.
const redraw = 100 * time.Millisecond

// Start begins a task of total units and prints its line every interval
// until [Bar.Finish].
func (p *Printer) Start(name, unit string, total int64) *Bar {
	b := &Bar{p: p, name: name, unit: unit, total: total, start: time.Now()}
	if p == nil || p.w == nil {
		return b
	}
	b.stop, b.ended = make(chan struct{}), make(chan struct{})
	if p.inPlace {
		max := total
		if max <= 0 {
			max = -1 // unknown: a spinner
		}
		b.bar = progressbar.NewOptions64(max,
			progressbar.OptionSetWriter(p.w),
			progressbar.OptionSetDescription(name),
			progressbar.OptionSetItsString(unit),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(redraw),
			progressbar.OptionSetRenderBlankState(true),
		)
		go b.drawLoop()
		return b
	}
	go b.loop()
	return b
}

// drawLoop moves the terminal's bar to the count until Finish.
func (b *Bar) drawLoop() {
	defer close(b.ended)
	t := time.NewTicker(min(redraw, b.p.every))
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			b.p.mu.Lock()
			_ = b.bar.Set64(b.done.Load())
			b.p.mu.Unlock()
		}
	}
}

// Add counts n more units done.
func (b *Bar) Add(n int64) { b.done.Add(n) }

// Set sets the units done.
func (b *Bar) Set(done int64) { b.done.Store(done) }

// Count returns the units done.
func (b *Bar) Count() int64 { return b.done.Load() }

func (b *Bar) loop() {
	defer close(b.ended)
	t := time.NewTicker(b.p.every)
	defer t.Stop()
	last, lastAt := int64(0), b.start
	for {
		select {
		case <-b.stop:
			return
		case now := <-t.C:
			d := b.done.Load()
			rate := float64(d-last) / now.Sub(lastAt).Seconds()
			last, lastAt = d, now
			eta := "?"
			if rate > 0 {
				eta = time.Duration(float64(b.total-d) / rate * float64(time.Second)).Round(time.Second).String()
			}
			b.p.line(fmt.Sprintf("%s: %s/%s %s, %s/s, ETA %s", b.name, Commas(d), Commas(b.total), b.unit, Commas(int64(rate)), eta), false)
		}
	}
}

// Finish stops the task's line and writes its final one, with the rate
// over the whole task. Calls after the first do nothing.
func (b *Bar) Finish() {
	b.once.Do(func() {
		if b.stop == nil {
			return
		}
		close(b.stop)
		<-b.ended
		if b.bar != nil {
			b.p.mu.Lock()
			_ = b.bar.Clear()
			b.p.mu.Unlock()
		}
		el := time.Since(b.start)
		d := b.done.Load()
		b.p.line(fmt.Sprintf("%s: %s/%s %s in %.1fs, %s/s", b.name, Commas(d), Commas(b.total), b.unit,
			el.Seconds(), Commas(int64(float64(d)/el.Seconds()))), true)
	})
}

func (p *Printer) line(s string, final bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.inPlace && final:
		fmt.Fprintf(p.w, "\r%s\x1b[K\n", s)
	case p.inPlace:
		fmt.Fprintf(p.w, "\r%s\x1b[K", s)
	default:
		fmt.Fprintln(p.w, s)
	}
}

// Commas formats n with thousands separators: 12,345.
func Commas(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
