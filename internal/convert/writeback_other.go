//go:build !linux

package convert

import (
	"io"

	"github.com/glipctl/glipctl/internal/atomicfile"
)

// newWriteback returns f: early writeback (sync_file_range) is Linux's.
func newWriteback(f *atomicfile.File) io.Writer { return f }
