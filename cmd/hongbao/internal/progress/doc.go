// Package progress shows how far the command's long tasks are: the
// phases of `hongbao bench`, the rebuilds and verifies of `hongbao
// rebuild`. It is the command's only progress printer.
//
// A [Printer] writes to one writer (stderr): on a terminal a bar drawn by
// github.com/schollz/progressbar and redrawn in place, elsewhere (CI,
// pipes) one plain line per interval. Each task is a [Bar] with a name, a unit and a total; workers Add to it (or Set it) from
// any goroutine, and Finish writes its final line with the task's rate.
//
//	p := progress.New(os.Stderr, progress.IsTerminal(os.Stderr), time.Second)
//	bar := p.Start("spread", "opens", 20_000)
//	bar.Add(1) // from the workers
//	bar.Finish()
//
// The interface is kept to these few calls; the terminal's bar is drawn by
// a maintained library behind it.
package progress
