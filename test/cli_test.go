package test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pinpipe/pinpipe/internal/testenv"
)

// cdk runs the repository's CDK CLI (npm aws-cdk, as `npx cdk` does) in the module root with no
// AWS credentials, so nothing can reach an account: synth must work offline.
func cdk(t *testing.T, args ...string) (string, error) {
	t.Helper()
	bin := filepath.Join(testenv.NodeModule(t, "aws-cdk"), "bin", "cdk")
	cmd := exec.Command(testenv.Need(t, "node"), append([]string{bin}, args...)...)
	cmd.Dir = testenv.RepoRoot()
	cmd.Env = append(os.Environ(),
		"JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20",
		"AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=", "AWS_PROFILE=pinpipe-test-no-such-profile",
		"AWS_EC2_METADATA_DISABLED=true", "CDK_DISABLE_VERSION_CHECK=true")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// `npx cdk synth` of the real app (main.go, cdk.json) succeeds with the default context (MWAA
// schedules the batch job), with an existing cluster, and with scheduler=eventbridge, and
// produces every stack.
func TestCdkSynthCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the CDK CLI twice (about a minute)")
	}
	for _, tc := range []struct {
		name string
		ctx  []string
	}{
		{"default", nil},
		{"existing-cluster", []string{"-c", "existingMskClusterArn=" + existingClusterArn}},
		{"eventbridge", []string{"-c", "scheduler=eventbridge"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			args := append([]string{"synth", "--quiet", "--no-notices", "-o", out}, tc.ctx...)
			if msg, err := cdk(t, args...); err != nil {
				t.Fatalf("cdk synth: %v\n%s", err, msg)
			}
			raw, err := os.ReadFile(filepath.Join(out, "manifest.json"))
			if err != nil {
				t.Fatal(err)
			}
			var m struct {
				Artifacts map[string]struct{ Type string } `json:"artifacts"`
			}
			if err := json.Unmarshal(raw, &m); err != nil {
				t.Fatal(err)
			}
			for _, st := range []string{"Network", "Storage", "Kafka", "Ingestion", "Streaming", "Batch", "Query", "Monitoring"} {
				if m.Artifacts["Pinpipe-demo-"+st].Type != "aws:cloudformation:stack" {
					t.Errorf("no stack Pinpipe-demo-%s in the assembly", st)
				}
			}
			kafka, err := os.ReadFile(filepath.Join(out, "Pinpipe-demo-Kafka.template.json"))
			if err != nil {
				t.Fatal(err)
			}
			hasCluster := strings.Contains(string(kafka), `"AWS::MSK::Cluster"`)
			if hasCluster != (tc.name != "existing-cluster") {
				t.Errorf("MSK cluster declared: %v, with context %v", hasCluster, tc.ctx)
			}
			batch, err := os.ReadFile(filepath.Join(out, "Pinpipe-demo-Batch.template.json"))
			if err != nil {
				t.Fatal(err)
			}
			mwaa := strings.Contains(string(batch), `"AWS::MWAA::Environment"`)
			scheduler := strings.Contains(string(batch), `"AWS::Scheduler::Schedule"`)
			if mwaa == (tc.name == "eventbridge") || scheduler != (tc.name == "eventbridge") {
				t.Errorf("MWAA declared: %v, EventBridge schedule declared: %v, with context %v", mwaa, scheduler, tc.ctx)
			}
		})
	}
}

// A bad context value stops `cdk synth` with a message naming the key.
func TestCdkSynthCLIBadContext(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the CDK CLI")
	}
	msg, err := cdk(t, "synth", "--quiet", "--no-notices", "-o", t.TempDir(), "-c", "flushSize=0")
	if err == nil {
		t.Fatalf("synth with flushSize=0 succeeded:\n%s", msg)
	}
	if !strings.Contains(msg, `the command line (-c flushSize=0): context "flushSize": 0 is out of range`) {
		t.Errorf("error does not name the key and that it came from -c:\n%s", msg)
	}
}
