package stacks

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pinpipe/pinpipe/internal/testenv"
)

// sampleUserData is the script as the stack renders it, with deploy-time values filled in.
func sampleUserData() string {
	return restProxyScript(map[string]string{
		"KAFKA_VERSION":        "3.6.0",
		"SCALA_VERSION":        "2.13",
		"MSK_IAM_AUTH_VERSION": "2.2.0",
		"CONFLUENT_VERSION":    "7.6.1",
		"BOOTSTRAP_SERVERS":    "b-1.pinpipe.abc123.c2.kafka.us-east-1.amazonaws.com:9098,b-2.pinpipe.abc123.c2.kafka.us-east-1.amazonaws.com:9098",
		"ROLE_ARN":             "arn:aws:iam::123456789012:role/pinpipe-demo-rest-proxy",
		"REST_PORT":            "8082",
		"AWS_REGION":           "us-east-1",
	})
}

// The script in the repository and the rendered script both pass bash -n and shellcheck.
func TestUserDataLint(t *testing.T) {
	bash := testenv.Need(t, "bash")
	shellcheck := testenv.Need(t, "shellcheck")
	rendered := filepath.Join(t.TempDir(), "rendered.sh")
	if err := os.WriteFile(rendered, []byte(sampleUserData()), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, script := range []string{filepath.Join("userdata", "rest-proxy.sh"), rendered} {
		if out, err := exec.Command(bash, "-n", script).CombinedOutput(); err != nil {
			t.Errorf("bash -n %s: %v\n%s", script, err, out)
		}
		if out, err := exec.Command(shellcheck, "--severity=style", "--shell=bash", script).CombinedOutput(); err != nil {
			t.Errorf("shellcheck %s: %v\n%s", script, err, out)
		}
	}
}

func TestUserDataRendering(t *testing.T) {
	s := sampleUserData()
	if !strings.HasPrefix(s, "#!/bin/bash\n") || strings.Count(s, "#!/bin/bash") != 1 {
		t.Errorf("rendered script must start with the one shebang:\n%.200s", s)
	}
	for _, want := range []string{
		"BOOTSTRAP_SERVERS='b-1.pinpipe",
		"ROLE_ARN='arn:aws:iam::123456789012:role/pinpipe-demo-rest-proxy'",
		"awsRoleArn=\\\"${ROLE_ARN}\\\"",
		"Restart=on-failure",
		"sasl.mechanism=AWS_MSK_IAM",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("rendered script lacks %q", want)
		}
	}
	// Settings come before the script's own checks of them.
	if strings.Index(s, "KAFKA_VERSION='3.6.0'") > strings.Index(s, `: "${KAFKA_VERSION:?}"`) {
		t.Error("settings are rendered after the script checks them")
	}
	defer func() {
		if recover() == nil {
			t.Error("a value with a single quote was rendered")
		}
	}()
	restProxyScript(map[string]string{"X": "it's"})
}
