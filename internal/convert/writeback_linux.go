//go:build linux

package convert

import (
	"io"

	"golang.org/x/sys/unix"

	"github.com/glipctl/glipctl/internal/atomicfile"
)

// writebackEvery is how many bytes are written between two requests to
// start writing them back to disk.
const writebackEvery = 16 << 20

// writeback writes to f and, every writebackEvery bytes, asks the kernel
// to start writing what was written back to disk (sync_file_range with
// SYNC_FILE_RANGE_WRITE: it does not wait for the data), so that the
// fsync before the rename has little left to do. The requests are hints:
// their errors are ignored (the fsync reports any).
type writeback struct {
	f            *atomicfile.File
	off, started int64
}

func newWriteback(f *atomicfile.File) io.Writer { return &writeback{f: f} }

func (w *writeback) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.off += int64(n)
	if w.off-w.started >= writebackEvery {
		if rc, cerr := w.f.OS().SyscallConn(); cerr == nil {
			rc.Control(func(fd uintptr) {
				unix.SyncFileRange(int(fd), w.started, w.off-w.started, unix.SYNC_FILE_RANGE_WRITE)
			})
		}
		w.started = w.off
	}
	return n, err
}
