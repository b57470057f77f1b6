package pth

import (
	"fmt"
	"io"
	"sync"

	"github.com/glipctl/glipctl/internal/ckpt"
)

// stridedData reads a non-contiguous view (a transpose, a strided slice, an
// expanded tensor) as C-order bytes. On first read it loads the span of the
// storage the view touches, which the reader has checked lies inside the
// storage (so its size is bounded by the file); each read then gathers just
// the elements asked for, so an expanded view far larger than its storage
// never needs its full size in memory.
type stridedData struct {
	src    io.ReaderAt
	esize  int64
	offset int64
	shape  []int64
	stride []int64
	name   string
	nbytes int64 // the C-order size, checked to fit by bindTensor

	once sync.Once
	span []byte
	err  error
}

func (s *stridedData) size() int64 { return s.nbytes }

func (s *stridedData) ReadAt(p []byte, off int64) (int, error) {
	s.once.Do(s.load)
	if s.err != nil {
		return 0, s.err
	}
	size := s.size()
	if off < 0 || off > size {
		return 0, fmt.Errorf("tensor %q: read at %d outside %d bytes", s.name, off, size)
	}
	end := min(off+int64(len(p)), size)
	// Gather element by element; a read may start or end inside an element.
	var elem [8]byte
	n := 0
	for pos := off; pos < end; {
		i := pos / s.esize
		s.element(i, elem[:s.esize])
		c := copy(p[n:end-off], elem[pos-i*s.esize:s.esize])
		n += c
		pos += int64(c)
	}
	if int64(n) < int64(len(p)) {
		return n, io.EOF
	}
	return n, nil
}

// element copies element i (in C order) of the view into dst.
func (s *stridedData) element(i int64, dst []byte) {
	var src int64
	for d := len(s.shape) - 1; d >= 0; d-- {
		src += (i % s.shape[d]) * s.stride[d]
		i /= s.shape[d]
	}
	copy(dst, s.span[src*s.esize:])
}

func (s *stridedData) load() {
	// viewEnd and these products were checked when the view was unpickled:
	// the span lies inside the storage, whose bytes lie inside the file.
	end, _ := viewEnd(s.offset, s.shape, s.stride)
	n, _ := ckpt.MulSize(end-s.offset, s.esize)
	at, _ := ckpt.MulSize(s.offset, s.esize)
	span := make([]byte, n)
	if k, err := s.src.ReadAt(span, at); k != len(span) {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		s.err = err // a FormatError from the storage's section
		return
	}
	s.span = span
}
