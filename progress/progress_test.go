package progress

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestPipedOutputStaysQuiet(t *testing.T) {
	var buf bytes.Buffer
	l := Start(&buf, time.Millisecond, func() string { return "busy" })
	time.Sleep(20 * time.Millisecond)
	l.Stop()
	l.Stop()
	assert.Empty(t, buf.String())
	assert.False(t, IsTerminal(&buf))
}

func TestRateAndETA(t *testing.T) {
	assert.Equal(t, 50.0, Rate(100, 2*time.Second))
	assert.Equal(t, 0.0, Rate(100, 0))
	assert.Equal(t, 6*time.Second, ETA(25, 100, 2*time.Second))
	assert.Equal(t, time.Duration(0), ETA(100, 100, time.Second))
	assert.Equal(t, time.Duration(-1), ETA(0, 100, time.Second))
	assert.Equal(t, "?", FormatETA(-1))
	assert.Equal(t, "6s", FormatETA(6*time.Second))
}

func TestCount(t *testing.T) {
	for _, c := range []struct {
		n    int64
		noun string
		many []string
		want string
	}{
		{0, "row", nil, "0 rows"},
		{1, "row", nil, "1 row"},
		{2, "post", nil, "2 posts"},
		{1, "category", []string{"categories"}, "1 category"},
		{13, "category", []string{"categories"}, "13 categories"},
		{-1, "record", nil, "-1 records"},
	} {
		if got := Count(c.n, c.noun, c.many...); got != c.want {
			t.Errorf("Count(%d, %q) = %q, want %q", c.n, c.noun, got, c.want)
		}
	}
}
