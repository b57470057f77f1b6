package pth

import (
	"fmt"
	"io"
	"sync"
)

// stridedData reads a non-contiguous view (a transpose, a strided slice, an
// expanded tensor) as C-order bytes. On first read it loads the span of the
// storage the view touches, which the reader has checked lies inside the
// storage, and gathers the elements.
type stridedData struct {
	src    io.ReaderAt
	esize  int64
	offset int64
	shape  []int64
	stride []int64
	name   string

	once sync.Once
	data []byte
	err  error
}

func (s *stridedData) ReadAt(p []byte, off int64) (int, error) {
	s.once.Do(s.gather)
	if s.err != nil {
		return 0, s.err
	}
	if off < 0 || off > int64(len(s.data)) {
		return 0, fmt.Errorf("tensor %q: read at %d outside %d bytes", s.name, off, len(s.data))
	}
	n := copy(p, s.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (s *stridedData) gather() {
	end, _ := viewEnd(s.offset, s.shape, s.stride)
	span := make([]byte, (end-s.offset)*s.esize)
	if n, err := s.src.ReadAt(span, s.offset*s.esize); n != len(span) {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		s.err = fmt.Errorf("tensor %q: reading storage: %w", s.name, err)
		return
	}
	numel := int64(1)
	for _, d := range s.shape {
		numel *= d
	}
	out := make([]byte, numel*s.esize)
	idx := make([]int64, len(s.shape))
	for i := int64(0); i < numel; i++ {
		var src int64
		for d := range idx {
			src += idx[d] * s.stride[d]
		}
		copy(out[i*s.esize:(i+1)*s.esize], span[src*s.esize:])
		for d := len(idx) - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < s.shape[d] {
				break
			}
			idx[d] = 0
		}
	}
	s.data = out
}
