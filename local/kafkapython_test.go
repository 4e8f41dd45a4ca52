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

// kafkaPythonScript prints every record of the topic in argv[2] at the broker argv[1], as
// "partition offset value", and fails on any error (UnsupportedCodecError among them).
const kafkaPythonScript = `
import sys
from kafka import KafkaConsumer
c = KafkaConsumer(sys.argv[2], bootstrap_servers=sys.argv[1], auto_offset_reset="earliest",
                  enable_auto_commit=False, consumer_timeout_ms=3000, api_version=(2, 0, 0))
for m in c:
    print(m.partition, m.offset, m.value.decode())
c.close()
`

// TestKafkaPythonReadsTopics: kafka-python, a client that ships no optional codecs (no
// python-snappy), reads what the API produced: the API produces uncompressed batches by default.
func TestKafkaPythonReadsTopics(t *testing.T) {
	python := pythonWithKafka(t)
	srv, _, b, _ := startAPI(t)
	want := produceAPI(t, srv.URL, 25, 10, 0)
	topic := testTopics()[0]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, python, "-c", kafkaPythonScript, b.Addr(), topic).CombinedOutput()
	require.NoError(t, err, "%s", out)
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	require.Len(t, lines, len(want[topic]), "%s", out)
	for i, l := range lines {
		assert.Equal(t, fmt.Sprintf("0 %d %s", i, want[topic][int64(i)]), l)
	}
}

// pythonWithKafka is a python3 that can import kafka (Debian's python3-kafka is for /usr/bin's).
func pythonWithKafka(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"python3", "/usr/bin/python3"} {
		if exec.Command(p, "-c", "import kafka").Run() == nil {
			return p
		}
	}
	testenv.Missing(t, "no python3 with kafka-python (apt install python3-kafka)")
	return ""
}
