package local

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pinpipe/pinpipe/internal/testenv"
)

// TestKcatReadsTopics: a standard Kafka client (kcat, librdkafka) lists and consumes the
// embedded broker's topics, and sees exactly what the API produced.
func TestKcatReadsTopics(t *testing.T) {
	kcat := testenv.Need(t, "kcat")
	srv, _, b, _ := startAPI(t)
	want := produceAPI(t, srv.URL, 25, 10, 0)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, kcat, "-b", b.Addr(), "-L").CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, topic := range testTopics() {
		assert.Contains(t, string(out), fmt.Sprintf("topic %q with 1 partitions", topic))
	}
	for _, topic := range testTopics() {
		out, err := exec.CommandContext(ctx, kcat, "-b", b.Addr(), "-C", "-t", topic, "-o", "beginning", "-e", "-q",
			"-f", "%p %o %s\n").Output()
		require.NoError(t, err)
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		require.Len(t, lines, len(want[topic]), topic)
		for i, l := range lines {
			assert.Equal(t, fmt.Sprintf("0 %d %s", i, want[topic][int64(i)]), l)
		}
	}
	// A consumer group through kcat's balanced consumer works too (the broker coordinates it).
	out, err = exec.CommandContext(ctx, kcat, "-b", b.Addr(), "-G", "kcat-test", testTopics()[0], "-o", "beginning", "-e", "-q",
		"-f", "%s\n").Output()
	require.NoError(t, err)
	assert.Len(t, strings.Split(strings.TrimSpace(string(out)), "\n"), 25)
}
