//go:build !linux

package atomicfile

import (
	"errors"
	"io/fs"
	"os"
)

var errNoUnnamed = errors.New("no unnamed temporary files on this system")

// createUnnamed fails: unnamed temporary files (O_TMPFILE) are Linux's.
func createUnnamed(dir, target string, perm fs.FileMode) (*os.File, error) {
	return nil, errNoUnnamed
}

func linkUnnamed(f *os.File, name string) error { return errNoUnnamed }
