package test

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pinpipe/pinpipe/internal/testenv"
	"github.com/pinpipe/pinpipe/stacks"
)

// exampleContext is every context key with its example value (existingMskClusterArn aside: with
// it the cluster keys do nothing, and the variant tests cover it).
func exampleContext() map[string]interface{} {
	ctx := map[string]interface{}{}
	for key, v := range stacks.ContextExamples() {
		if key == "existingMskClusterArn" {
			continue
		}
		if key == "connectorZipPath" {
			v = filepath.Join(testenv.RepoRoot(), v)
		}
		ctx[key] = v
	}
	return ctx
}

// Every context key set at once, each to a value other than its default, synthesizes cleanly:
// CloudFormation validation and cdk-nag find nothing.
func TestEveryContextKey(t *testing.T) {
	s := Synth(t, exampleContext())
	if v := s.ValidationViolations(t); len(v) > 0 {
		t.Errorf("built-in CloudFormation validation reported:\n%s", strings.Join(v, "\n"))
	}
	p := s.Pipeline
	for _, st := range append([]awscdk.Stack{p.Network.Stack, p.Storage.Stack, p.Kafka.Stack, p.Ingestion.Stack}, p.ProcessingStacks()...) {
		s.RequireNoNagFindings(t, st)
	}
	// The examples took effect.
	c := s.Config
	assert.Equal(t, "team-a", c.UserID)
	assert.Equal(t, []string{"us-east-1a", "us-east-1c"}, c.AZs())
	assert.False(t, c.ApiGatewayCloudWatchRole)
	assert.Nil(t, p.Account)
	assert.NotNil(t, p.Emulator)
	network := toJSON(t, s.TemplateJSON(t, p.Network.Stack))
	assert.Contains(t, network, `"AvailabilityZone":"us-east-1c"`)
	ingestion := toJSON(t, s.TemplateJSON(t, p.Ingestion.Stack))
	assert.Contains(t, ingestion, "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-6.1-arm64", "a Graviton proxy gets the arm64 image")
	assert.Contains(t, ingestion, `KAFKA_URL='https://archive.apache.org/dist/kafka/3.9.1/kafka_2.13-3.9.1.tgz'`, "the proxy installs the Apache release of the MSK line")
	assert.Contains(t, ingestion, `KAFKA_SHA512='`+c.KafkaSha512+`'`, "kafkaSha512 pins it")
}

// The README's configuration table documents every context key, and no other.
func TestReadmeDocumentsEveryKey(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "README.md"))
	require.NoError(t, err)
	text := string(raw)
	start := strings.Index(text, "### Configuration")
	require.GreaterOrEqual(t, start, 0, "README has a Configuration section")
	section := text[start:]
	if end := strings.Index(section[3:], "\n### "); end >= 0 {
		section = section[:end+3]
	}
	documented := map[string]bool{}
	for _, line := range strings.Split(section, "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cell := strings.Split(line, "|")[1]
		for _, m := range regexp.MustCompile("`([A-Za-z0-9]+)`").FindAllStringSubmatch(cell, -1) {
			documented[m[1]] = true
		}
	}
	var missing, extra []string
	known := map[string]bool{}
	for _, k := range stacks.ContextKeys() {
		known[k] = true
		if !documented[k] {
			missing = append(missing, k)
		}
	}
	for k := range documented {
		if !known[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(extra)
	assert.Empty(t, missing, "context keys the README's configuration table does not document")
	assert.Empty(t, extra, "keys the README documents that pinpipe does not read")
}
