package preprocess

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// WriteNPY writes a little-endian float32 C-order array of the given shape
// as a .npy file, format version 1.0, byte for byte as numpy.save writes it
// (header {'descr': '<f4', 'fortran_order': False, 'shape': (...), }
// padded with spaces to a multiple of 64 bytes, then a newline).
func WriteNPY(w io.Writer, shape []int, data []float32) error {
	n := 1
	dims := make([]string, len(shape))
	for i, d := range shape {
		if d < 0 {
			return fmt.Errorf("npy: negative dimension %d", d)
		}
		n *= d
		dims[i] = strconv.Itoa(d)
	}
	if n != len(data) {
		return fmt.Errorf("npy: shape %v holds %d values, not %d", shape, n, len(data))
	}
	tuple := "(" + strings.Join(dims, ", ") + ")"
	if len(shape) == 1 {
		tuple = "(" + dims[0] + ",)"
	}
	h := "{'descr': '<f4', 'fortran_order': False, 'shape': " + tuple + ", }"
	total := 10 + len(h) + 1
	h += strings.Repeat(" ", (64-total%64)%64) + "\n"
	if len(h) > math.MaxUint16 {
		return fmt.Errorf("npy: header of %d bytes", len(h))
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	var pre [10]byte
	copy(pre[:], npyMagic)
	pre[6], pre[7] = 1, 0
	binary.LittleEndian.PutUint16(pre[8:], uint16(len(h)))
	bw.Write(pre[:])
	bw.WriteString(h)
	var b [4]byte
	for _, v := range data {
		binary.LittleEndian.PutUint32(b[:], math.Float32bits(v))
		bw.Write(b[:])
	}
	return bw.Flush()
}
