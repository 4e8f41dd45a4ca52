package local

import (
	"fmt"
	"sync"
	"time"
)

// health is the fault state of a part that retries instead of stopping (the sink, the stream
// cleaner): the error it is retrying, since when and how often it failed. The part reports each
// outcome to after; status is what its Health method returns. Each change of state is logged
// once, not every retry.
type health struct {
	part     string // names the part in logs and errors: "sink", "stream cleaner"
	tries    string // what a failure is, plural: "attempts", "passes"
	logf     func(format string, args ...any)
	mu       sync.Mutex
	err      error     // the last failure, nil once an attempt succeeds
	since    time.Time // when the failures began
	failures int       // failures since then
}

// after records the outcome of one attempt.
func (h *health) after(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case err == nil && h.err != nil:
		h.logf("%s: healthy again after %d failed %s in %s", h.part, h.failures, h.tries, time.Since(h.since).Round(time.Millisecond))
		h.err, h.failures = nil, 0
	case err != nil && h.err == nil:
		h.logf("%s: unhealthy, retrying with backoff until it can write again: %v", h.part, err)
		h.err, h.since, h.failures = err, time.Now(), 1
	case err != nil:
		h.err = err
		h.failures++
	}
}

// status is nil while the part is healthy, otherwise an error saying what it cannot do (doing,
// e.g. "cannot write to DIR"), since when, and the last failure.
func (h *health) status(doing string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.err == nil {
		return nil
	}
	return fmt.Errorf("the %s %s since %s (%d failed %s): %w", h.part, doing, h.since.Format(time.TimeOnly), h.failures, h.tries, h.err)
}
