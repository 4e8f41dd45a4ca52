// Package progress draws one live status line on a terminal and nothing when the output is piped,
// so long commands can show rates, counts and ETA without polluting logs or pipes.
package progress

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/term"
)

// IsTerminal reports whether w is a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Line redraws the text returned by render every interval on w while running. It is inert (draws
// nothing, starts no goroutine) when w is not a terminal.
type Line struct {
	w      io.Writer
	render func() string
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
}

// Start begins redrawing render() on w every interval (250ms when interval is 0), if w is a
// terminal. Call Stop to clear the line.
func Start(w io.Writer, interval time.Duration, render func() string) *Line {
	l := &Line{w: w, render: render}
	if !IsTerminal(w) {
		return l
	}
	if interval <= 0 {
		interval = 250 * time.Millisecond
	}
	l.stop, l.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(l.done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-l.stop:
				fmt.Fprint(l.w, "\r\033[K")
				return
			case <-tick.C:
				fmt.Fprintf(l.w, "\r\033[K%s", l.render())
			}
		}
	}()
	return l
}

// Stop clears the line and waits for the drawing goroutine to end. It is safe to call twice.
func (l *Line) Stop() {
	if l.stop == nil {
		return
	}
	l.once.Do(func() { close(l.stop); <-l.done })
}

// Rate is n per second over elapsed (0 when no time has passed).
func Rate(n int64, elapsed time.Duration) float64 {
	if elapsed <= 0 {
		return 0
	}
	return float64(n) / elapsed.Seconds()
}

// ETA estimates the time left to reach total from done at the average rate so far; it returns
// -1 when it cannot tell (nothing done yet, or no total).
func ETA(done, total int64, elapsed time.Duration) time.Duration {
	if done <= 0 || total <= 0 || elapsed <= 0 {
		return -1
	}
	if done >= total {
		return 0
	}
	return time.Duration(float64(elapsed) * float64(total-done) / float64(done)).Round(time.Second)
}

// FormatETA prints an ETA from ETA as "12s" or "?".
func FormatETA(d time.Duration) string {
	if d < 0 {
		return "?"
	}
	return d.String()
}

// Count writes n with its noun, singular for one: Count(1, "row") is "1 row", Count(3, "row")
// "3 rows". A noun whose plural is not noun+"s" gives it: Count(2, "category", "categories").
func Count[N int | int64](n N, noun string, plural ...string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, noun)
	}
	if len(plural) > 0 {
		return fmt.Sprintf("%d %s", n, plural[0])
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
