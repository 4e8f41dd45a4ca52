package test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pinpipe/pinpipe/internal/testenv"
	"github.com/pinpipe/pinpipe/stacks"
)

// cdk runs the repository's CDK CLI (npm aws-cdk, as `npx cdk` does) in the module root with no
// AWS credentials, so nothing can reach an account: synth must work offline.
func cdk(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return cdkIn(t, "", args...)
}

// cdkIn is cdk with AWS_REGION set to region (the CLI hands it to the app as
// CDK_DEFAULT_REGION); "" leaves the region unknown.
func cdkIn(t *testing.T, region string, args ...string) (string, error) {
	t.Helper()
	bin := filepath.Join(testenv.NodeModule(t, "aws-cdk"), "bin", "cdk")
	cmd := exec.Command(testenv.Need(t, "node"), append([]string{bin}, args...)...)
	cmd.Dir = testenv.RepoRoot()
	cmd.Env = append(os.Environ(),
		"JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20",
		"AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=", "AWS_PROFILE=pinpipe-test-no-such-profile",
		"AWS_EC2_METADATA_DISABLED=true", "CDK_DISABLE_VERSION_CHECK=true",
		"AWS_REGION="+region, "AWS_DEFAULT_REGION="+region, "CDK_DEFAULT_ACCOUNT=", "CDK_DEFAULT_REGION=")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// exampleArgs are `-c key=value` for every context key, each with its example value.
func exampleArgs() []string {
	var args []string
	for _, key := range stacks.ContextKeys() {
		v := stacks.ContextExamples()[key]
		if key == "existingMskClusterArn" {
			continue // its own case: with it, the cluster keys do nothing
		}
		args = append(args, "-c", key+"="+v)
	}
	return args
}

// `npx cdk synth` of the real app (main.go, cdk.json) succeeds with the default context (MWAA
// schedules the batch job), with an existing cluster, and with scheduler=eventbridge, and
// produces every stack.
func TestCdkSynthCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the CDK CLI twice (about a minute)")
	}
	for _, tc := range []struct {
		name, region, user string
		ctx                []string
	}{
		{"default", "", "demo", nil},
		{"existing-cluster", "", "demo", []string{"-c", "existingMskClusterArn=" + existingClusterArn}},
		{"eventbridge", "", "demo", []string{"-c", "scheduler=eventbridge"}},
		// A userId with a hyphen, in the default (MWAA) mode (issue 9, finding 3).
		{"team-a", "", "team-a", []string{"-c", "userId=team-a"}},
		// The region known, as the CLI gives it from the profile: two regions.
		{"us-east-1", "us-east-1", "demo", nil},
		{"eu-west-1", "eu-west-1", "demo", nil},
		// Every context key at once, each with a value other than its default.
		{"every-key", "", "team-a", exampleArgs()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			args := append([]string{"synth", "--quiet", "--no-notices", "-o", out}, tc.ctx...)
			msg, err := cdkIn(t, tc.region, args...)
			if err != nil {
				t.Fatalf("cdk synth: %v\n%s", err, msg)
			}
			if strings.Contains(msg, "feature flags are not configured") {
				t.Errorf("synth reports unconfigured feature flags:\n%s", msg)
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
			prefix := "Pinpipe-" + tc.user + "-"
			for _, st := range []string{"Network", "Storage", "Kafka", "Ingestion", "Streaming", "Batch", "Query", "Monitoring"} {
				if m.Artifacts[prefix+st].Type != "aws:cloudformation:stack" {
					t.Errorf("no stack %s%s in the assembly", prefix, st)
				}
			}
			if tc.name == "every-key" {
				return // the MWAA and cluster checks below are about the defaults
			}
			kafka, err := os.ReadFile(filepath.Join(out, prefix+"Kafka.template.json"))
			if err != nil {
				t.Fatal(err)
			}
			hasCluster := strings.Contains(string(kafka), `"AWS::MSK::Cluster"`)
			if hasCluster != (tc.name != "existing-cluster") {
				t.Errorf("MSK cluster declared: %v, with context %v", hasCluster, tc.ctx)
			}
			batch, err := os.ReadFile(filepath.Join(out, prefix+"Batch.template.json"))
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

// A bad context value, a value the service rejects and a misspelled key stop `cdk synth` with a
// message naming the key (and, for a misspelling, the key meant).
func TestCdkSynthCLIBadContext(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the CDK CLI")
	}
	for _, tc := range []struct{ arg, want string }{
		{"flushSize=0", `the command line (-c flushSize=0): context "flushSize": 0 is out of range`},
		{"connectorMcuCount=3", `the command line (-c connectorMcuCount=3): context "connectorMcuCount": "3" is not one of 1, 2, 4, 8`},
		{"userdId=x", `the command line (-c userdId=x): context "userdId": not a pinpipe setting; did you mean "userId"?`},
	} {
		msg, err := cdk(t, "synth", "--quiet", "--no-notices", "-o", t.TempDir(), "-c", tc.arg)
		if err == nil {
			t.Errorf("synth with %s succeeded:\n%s", tc.arg, msg)
			continue
		}
		if !strings.Contains(msg, tc.want) {
			t.Errorf("-c %s: the error does not say %q:\n%s", tc.arg, tc.want, msg)
		}
	}
}
