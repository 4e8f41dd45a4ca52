//go:build !unix

package local

// RaiseOpenFileLimit does nothing where there is no RLIMIT_NOFILE.
func RaiseOpenFileLimit() (uint64, error) { return 0, nil }

func openFilesLimit() uint64 { return 0 }
