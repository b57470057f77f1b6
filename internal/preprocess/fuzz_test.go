package preprocess

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzReadNPY: any bytes give shape and data or an error, never a panic,
// and never an allocation larger than the input implies.
func FuzzReadNPY(f *testing.F) {
	good := "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 2, 1), }    \n"
	f.Add(npyBytes(1, good, make([]byte, 24)))
	f.Add(npyBytes(2, good, make([]byte, 24)))
	f.Add(npyBytes(1, strings.Replace(good, "(1, 3, 2, 1)", "()", 1), make([]byte, 4)))
	f.Add([]byte("\x93NUMPY\x01\x00"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		shape, data, err := readNPY(bytes.NewReader(raw), int64(len(raw)))
		if err != nil {
			return
		}
		n := 1
		for _, d := range shape {
			n *= d
		}
		if n != len(data) || 4*len(data) > len(raw) {
			t.Fatalf("shape %v with %d values from %d bytes", shape, len(data), len(raw))
		}
	})
}
