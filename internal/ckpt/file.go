package ckpt

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
)

// ErrNotRegular is the error (wrapped) of OpenRegular for a path that is
// not a regular file: a named pipe, a device, a socket, a directory.
var ErrNotRegular = errors.New("not a regular file")

// OpenRegular opens path for reading and returns it with its size, refusing
// anything but a regular file (after symlinks). The open itself never
// blocks: a named pipe is opened non-blocking and refused before any read.
// Every reader of a checkpoint, image or array file opens its path here.
func OpenRegular(path string) (*os.File, int64, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, 0, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("%s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, 0, fmt.Errorf("%s: %s, %w", path, kindOf(st.Mode()), ErrNotRegular)
	}
	return f, st.Size(), nil
}

func kindOf(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "is a directory"
	case m&os.ModeNamedPipe != 0:
		return "is a named pipe (FIFO)"
	case m&os.ModeSocket != 0:
		return "is a socket"
	case m&os.ModeCharDevice != 0:
		return "is a character device"
	case m&os.ModeDevice != 0:
		return "is a block device"
	}
	return "is of type " + m.Type().String()
}

// Source names where a tensor's bytes come from, for errors.
type Source struct {
	File   string
	Format Format
	// Entry is the archive member the bytes are read from when that is not
	// the file itself (an inflated zip entry); offsets are then the
	// entry's, not the file's.
	Entry string
}

// SectionData is a tensor's Data over the n bytes of r at base, whose read
// errors are FormatErrors naming the file, the tensor (once) and the file
// offset where the bytes ran out (or the entry and its offset).
func SectionData(r io.ReaderAt, src Source, tensor string, base, n int64) io.ReaderAt {
	return &sectionData{r: r, src: src, tensor: tensor, base: base, n: n}
}

type sectionData struct {
	r       io.ReaderAt
	src     Source
	tensor  string
	base, n int64
}

func (s *sectionData) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off > s.n {
		return 0, s.fail(-1, fmt.Errorf("tensor %q: read at %d outside its %d bytes", s.tensor, off, s.n))
	}
	want := int64(len(p))
	short := false
	if want > s.n-off {
		want, short = s.n-off, true
	}
	at := s.base + off // within base+n, which the reader checked
	k, err := s.r.ReadAt(p[:want], at)
	if int64(k) < want {
		var fe *FormatError
		if errors.As(err, &fe) {
			return k, err
		}
		if err == nil || errors.Is(err, io.EOF) {
			err = errors.New("the file ends there (truncated?)")
		}
		where := at + int64(k)
		if s.src.Entry != "" {
			return k, s.fail(-1, fmt.Errorf("tensor %q: reading %d bytes of entry %s at byte %d: %w", s.tensor, want, s.src.Entry, where, err))
		}
		return k, s.fail(where, fmt.Errorf("tensor %q: reading %d bytes: %w", s.tensor, want, err))
	}
	if short {
		return k, io.EOF
	}
	return k, nil
}

func (s *sectionData) fail(off int64, err error) error {
	return &FormatError{Format: s.src.Format, File: s.src.File, Offset: off, Err: err}
}
