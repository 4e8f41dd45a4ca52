// Package testenv lets tests depend on real outside programs (mariadbd, chromium, kcat, node,
// shellcheck) without making a developer's `go test` fail on a machine that lacks them: the test
// is skipped there, but under CI (CI set to anything but "" or "false") a missing program fails the
// test, so a green CI run always means the real parts were exercised.
package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// InCI reports whether the tests run under CI.
func InCI() bool {
	v := os.Getenv("CI")
	return v != "" && v != "false" && v != "0"
}

// Need returns the path of program, looking in PATH, then in extra directories. When it is
// missing the test is skipped, or failed under CI.
func Need(t testing.TB, program string, extraDirs ...string) string {
	t.Helper()
	if p, err := exec.LookPath(program); err == nil {
		return p
	}
	for _, d := range extraDirs {
		p := filepath.Join(d, program)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	Missing(t, program+" is not installed (run .ci/run or see README, Tests)")
	return ""
}

// Missing skips the test with reason, or fails it under CI.
func Missing(t testing.TB, reason string) {
	t.Helper()
	if InCI() {
		t.Fatalf("required for CI: %s", reason)
	}
	t.Skip(reason)
}

// RepoRoot is the module root (the directory holding go.mod), found from this file's location.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// NodeModule returns the path of an npm package installed at the repository root
// (`npm ci`), skipping or failing like Need when it is missing.
func NodeModule(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(RepoRoot(), "node_modules", name)
	if _, err := os.Stat(p); err != nil {
		Missing(t, "npm package "+name+" is not installed (run npm ci)")
	}
	return p
}
