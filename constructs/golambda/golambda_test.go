package golambda

import (
	"bytes"
	"debug/elf"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Build makes a static linux/arm64 executable, byte for byte the same on every build (which is
// what keeps the asset hash stable), and reports a compile error with Go's message.
func TestBuild(t *testing.T) {
	root, err := FindModuleRoot()
	require.NoError(t, err)
	dir := t.TempDir()
	var builds [][]byte
	for i, out := range []string{filepath.Join(dir, "a", "bootstrap"), filepath.Join(dir, "b", "bootstrap")} {
		require.NoError(t, Build(root, "constructs/golambda/testdata/hello", out), "build %d", i)
		f, err := elf.Open(out)
		require.NoError(t, err)
		assert.Equal(t, elf.EM_AARCH64, f.Machine)
		assert.Equal(t, elf.ELFCLASS64, f.Class)
		for _, p := range f.Progs {
			assert.NotEqual(t, elf.PT_INTERP, p.Type, "statically linked")
		}
		f.Close()
		b, err := os.ReadFile(out)
		require.NoError(t, err)
		builds = append(builds, b)
	}
	assert.True(t, bytes.Equal(builds[0], builds[1]), "two builds differ")

	err = Build(root, "constructs/golambda/testdata/nosuch", filepath.Join(dir, "c", "bootstrap"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "golambda: go build ./constructs/golambda/testdata/nosuch")
}
