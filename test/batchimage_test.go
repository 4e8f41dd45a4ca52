package test

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pinpipe/pinpipe/internal/testenv"
)

// dockerStage is one stage of a Dockerfile: its FROM line and its instructions (continuation
// lines joined).
type dockerStage struct {
	from  string
	instr []string
}

func dockerStages(t *testing.T, path string) []dockerStage {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	var stages []dockerStage
	var cur string
	flush := func() {
		line := strings.TrimSpace(cur)
		cur = ""
		if line == "" {
			return
		}
		if strings.HasPrefix(strings.ToUpper(line), "FROM ") {
			stages = append(stages, dockerStage{from: line})
			return
		}
		require.NotEmpty(t, stages, "instruction before FROM: %s", line)
		stages[len(stages)-1].instr = append(stages[len(stages)-1].instr, line)
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "#") && cur == "" {
			continue
		}
		if strings.HasSuffix(l, "\\") {
			cur += strings.TrimSuffix(l, "\\") + " "
			continue
		}
		cur += l
		flush()
	}
	flush()
	return stages
}

// The arm64 batch image needs no emulation to build (issue 9: it compiled DuckDB under QEMU on
// amd64 hosts): its build stage runs on the build machine's platform, the stage that becomes the
// image runs nothing. What the build stage makes is checked here by running its own build command
// on this Debian 12 host, with the cross toolchain scripts/setup.sh installs (the stage's image
// is Debian 12 too): an aarch64 executable for glibc's arm64 loader, needing no library and no
// symbol version the runtime base (distroless cc-debian12: glibc 2.36, libstdc++ of GCC 12) lacks.
func TestBatchImageCrossCompiles(t *testing.T) {
	dockerfile := filepath.Join(testenv.RepoRoot(), "analytics", "Dockerfile")
	stages := dockerStages(t, dockerfile)
	require.GreaterOrEqual(t, len(stages), 2)
	build, final := stages[0], stages[len(stages)-1]
	assert.Contains(t, build.from, "--platform=$BUILDPLATFORM", "the build stage runs natively on the build machine")
	assert.Contains(t, build.from, "bookworm", "the build stage is Debian 12, as the runtime base")
	assert.Contains(t, final.from, "distroless/cc-debian12")
	assert.NotContains(t, final.from, "--platform")
	for _, in := range final.instr {
		assert.False(t, strings.HasPrefix(strings.ToUpper(in), "RUN"), "the target stage runs a command (needs emulation): %s", in)
	}
	var script string
	for _, in := range build.instr {
		if strings.HasPrefix(in, "RUN") && strings.Contains(in, "go build") {
			script = in
		}
	}
	require.NotEmpty(t, script, "the build stage's go build")
	// The RUN's shell command, without the instruction and its cache mounts, writing to a temp dir.
	script = regexp.MustCompile(`^RUN\s+(--mount=\S+\s+)*`).ReplaceAllString(script, "")
	out := filepath.Join(t.TempDir(), "pinpipe")
	require.Contains(t, script, "/out/pinpipe")
	script = strings.ReplaceAll(script, "/out/pinpipe", out)

	testenv.Need(t, "aarch64-linux-gnu-gcc")
	testenv.Need(t, "aarch64-linux-gnu-g++")
	cmd := exec.Command("bash", "-euc", script)
	cmd.Dir = testenv.RepoRoot()
	// The build stage has no GOFLAGS (the Makefile's build tags among them): its command must
	// say everything the build needs itself.
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GOFLAGS=") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "TARGETARCH=arm64")
	msg, err := cmd.CombinedOutput()
	require.NoError(t, err, "the Dockerfile's build command on the host:\n%s", msg)

	f, err := elf.Open(out)
	require.NoError(t, err)
	defer f.Close()
	assert.Equal(t, elf.EM_AARCH64, f.Machine)
	assert.Equal(t, elf.ELFCLASS64, f.Class)
	var interp string
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b := make([]byte, p.Filesz)
			_, err := p.ReadAt(b, 0)
			require.NoError(t, err)
			interp = strings.TrimRight(string(b), "\x00")
		}
	}
	assert.Equal(t, "/lib/ld-linux-aarch64.so.1", interp, "glibc's arm64 loader, which the base has")
	libs, err := f.ImportedLibraries()
	require.NoError(t, err)
	base := map[string]bool{"libc.so.6": true, "libm.so.6": true, "libdl.so.2": true, "libpthread.so.0": true,
		"librt.so.1": true, "libstdc++.so.6": true, "libgcc_s.so.1": true, "ld-linux-aarch64.so.1": true}
	for _, l := range libs {
		assert.True(t, base[l], "needs %s, which distroless/cc-debian12 does not ship", l)
	}
	syms, err := f.ImportedSymbols()
	require.NoError(t, err)
	maxVer := map[string][]int{}
	for _, s := range syms {
		for _, prefix := range []string{"GLIBC_", "GLIBCXX_", "CXXABI_"} {
			if v, ok := strings.CutPrefix(s.Version, prefix); ok {
				if later(parseVersion(v), maxVer[prefix]) {
					maxVer[prefix] = parseVersion(v)
				}
			}
		}
	}
	// Debian 12: glibc 2.36; libstdc++ of GCC 12 provides GLIBCXX_3.4.30 and CXXABI_1.3.13.
	for prefix, limit := range map[string][]int{"GLIBC_": {2, 36}, "GLIBCXX_": {3, 4, 30}, "CXXABI_": {1, 3, 13}} {
		assert.False(t, later(maxVer[prefix], limit), "needs %s%v, the base has up to %v", prefix, maxVer[prefix], limit)
	}
	assert.NotEmpty(t, maxVer["GLIBC_"], "links glibc dynamically (cgo)")
	t.Logf("aarch64 ELF, interpreter %s, needs %v, newest symbol versions %v", interp, libs, maxVer)
}

func parseVersion(v string) []int {
	var out []int
	for _, p := range strings.Split(v, ".") {
		n, err := strconv.Atoi(p)
		if err != nil {
			break
		}
		out = append(out, n)
	}
	return out
}

// later reports whether version a is later than b.
func later(a, b []int) bool {
	for i := 0; i < len(a) || i < len(b); i++ {
		var x, y int
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			return x > y
		}
	}
	return false
}
