package emulator

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"

	"github.com/pinpipe/pinpipe/record"
)

// Synthetic is the in-memory source: the synthetic dataset (Generate), sampled with
// replacement like the original emulator sampled its database.
type Synthetic struct {
	data *Dataset
	mu   sync.Mutex
	rng  *rand.Rand
}

// NewSynthetic generates the dataset of seed with rows rows (DefaultRows when rows <= 0; at most
// 10,000,000) and samples it with a generator seeded by seed, so a run is repeatable.
func NewSynthetic(seed int64, rows int) *Synthetic {
	if rows <= 0 {
		rows = DefaultRows
	}
	rows = min(rows, maxDatasetRows)
	d, _ := Generate(seed, rows) // rows is in range, so Generate cannot fail
	return NewDatasetSource(d, seed)
}

// NewDatasetSource samples an existing dataset (for example one read with ReadFiles).
func NewDatasetSource(d *Dataset, seed int64) *Synthetic {
	return &Synthetic{data: d, rng: rand.New(rand.NewPCG(uint64(seed), 0x5bd1e995))}
}

// Dataset is the data the source samples.
func (s *Synthetic) Dataset() *Dataset { return s.data }

// Random returns the rows of a random index. It is safe for concurrent use.
func (s *Synthetic) Random(ctx context.Context) (record.Post, error) {
	if err := ctx.Err(); err != nil {
		return record.Post{}, err
	}
	if s.data.Len() == 0 {
		return record.Post{}, errors.New("synthetic source: the dataset is empty")
	}
	s.mu.Lock()
	i := s.rng.IntN(s.data.Len())
	s.mu.Unlock()
	return s.data.Post(i), nil
}
