package preprocess

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/glipctl/glipctl/internal/ckpt"
)

// npyMagic starts every .npy file.
const npyMagic = "\x93NUMPY"

// maxNPYHeader bounds the header a reader accepts (numpy writes < 1 KiB for
// any realistic shape).
const maxNPYHeader = 1 << 16

// ReadNPY reads a .npy file holding a little-endian float32 array in C
// order (format versions 1.0 and 2.0; header {'descr': '<f4',
// 'fortran_order': False, 'shape': (...)}): its shape and values. Anything
// else — another dtype or byte order, Fortran order, a malformed header, a
// data size that does not match the shape — is an error naming the file.
func ReadNPY(path string) (shape []int, data []float32, err error) {
	f, size, err := ckpt.OpenRegular(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	shape, data, err = readNPY(f, size)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return shape, data, nil
}

func readNPY(r io.Reader, size int64) ([]int, []float32, error) {
	var pre [8]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return nil, nil, errors.New("not a .npy file (too short)")
	}
	if string(pre[:6]) != npyMagic {
		return nil, nil, errors.New("not a .npy file (bad magic)")
	}
	var hlen int64
	var prefix int64
	switch major, minor := pre[6], pre[7]; {
	case major == 1 && minor == 0:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, nil, errors.New(".npy header truncated")
		}
		hlen, prefix = int64(binary.LittleEndian.Uint16(b[:])), 10
	case major == 2 && minor == 0:
		var b [4]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, nil, errors.New(".npy header truncated")
		}
		hlen, prefix = int64(binary.LittleEndian.Uint32(b[:])), 12
	default:
		return nil, nil, fmt.Errorf(".npy format version %d.%d is not supported (want 1.0 or 2.0)", major, minor)
	}
	if hlen > maxNPYHeader || !ckpt.Within(prefix, hlen, size) {
		return nil, nil, fmt.Errorf(".npy header length %d does not fit the %d-byte file", hlen, size)
	}
	hdr := make([]byte, hlen)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, nil, errors.New(".npy header truncated")
	}
	shape, err := parseNPYHeader(hdr)
	if err != nil {
		return nil, nil, fmt.Errorf(".npy header: %w", err)
	}
	dims := make([]int64, len(shape))
	for i, d := range shape {
		dims[i] = int64(d)
	}
	n, ok := ckpt.Numel(dims)
	nbytes, ok2 := ckpt.MulSize(n, 4)
	if !ok || !ok2 {
		return nil, nil, fmt.Errorf(".npy shape %v overflows", shape)
	}
	if want, ok := ckpt.AddSize(prefix+hlen, nbytes); !ok || want != size {
		return nil, nil, fmt.Errorf(".npy data is %d bytes, shape %v of float32 needs %d", size-prefix-hlen, shape, nbytes)
	}
	raw := make([]byte, nbytes) // exactly the rest of the file
	if _, err := io.ReadFull(r, raw); err != nil {
		return nil, nil, fmt.Errorf(".npy data truncated: %w", err)
	}
	data := make([]float32, n)
	for i := range data {
		data[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return shape, data, nil
}

// parseNPYHeader parses the Python dict literal of a .npy header strictly:
// exactly the keys 'descr', 'fortran_order' and 'shape', descr '<f4',
// fortran_order False, shape a tuple of non-negative ints; then spaces and
// a final newline.
func parseNPYHeader(h []byte) ([]int, error) {
	p := &npyParser{s: h}
	p.space()
	if !p.eat('{') {
		return nil, errors.New("does not start with '{'")
	}
	var descr, fortran, shape bool
	var dims []int
	for {
		p.space()
		if p.eat('}') {
			break
		}
		key, err := p.str()
		if err != nil {
			return nil, err
		}
		p.space()
		if !p.eat(':') {
			return nil, fmt.Errorf("no ':' after key %q", key)
		}
		p.space()
		switch key {
		case "descr":
			if descr {
				return nil, errors.New("key 'descr' twice")
			}
			descr = true
			v, err := p.str()
			if err != nil {
				return nil, err
			}
			if v != "<f4" {
				return nil, fmt.Errorf("dtype %q is not supported (want '<f4': little-endian float32)", v)
			}
		case "fortran_order":
			if fortran {
				return nil, errors.New("key 'fortran_order' twice")
			}
			fortran = true
			switch {
			case p.word("False"):
			case p.word("True"):
				return nil, errors.New("Fortran-order arrays are not supported (want C order)")
			default:
				return nil, errors.New("fortran_order is not True or False")
			}
		case "shape":
			if shape {
				return nil, errors.New("key 'shape' twice")
			}
			shape = true
			if dims, err = p.tuple(); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("unexpected key %q", key)
		}
		p.space()
		if p.eat(',') {
			continue
		}
		p.space()
		if !p.eat('}') {
			return nil, errors.New("expected ',' or '}'")
		}
		break
	}
	if !descr || !fortran || !shape {
		return nil, errors.New("missing one of the keys 'descr', 'fortran_order', 'shape'")
	}
	rest := h[p.i:]
	if len(rest) == 0 || rest[len(rest)-1] != '\n' || len(bytes.Trim(rest[:len(rest)-1], " ")) != 0 {
		return nil, errors.New("trailing bytes after the dict (want spaces and a newline)")
	}
	return dims, nil
}

type npyParser struct {
	s []byte
	i int
}

func (p *npyParser) space() {
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
}

func (p *npyParser) eat(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *npyParser) word(w string) bool {
	if bytes.HasPrefix(p.s[p.i:], []byte(w)) {
		p.i += len(w)
		return true
	}
	return false
}

func (p *npyParser) str() (string, error) {
	if p.i >= len(p.s) || (p.s[p.i] != '\'' && p.s[p.i] != '"') {
		return "", errors.New("expected a quoted string")
	}
	q := p.s[p.i]
	end := bytes.IndexByte(p.s[p.i+1:], q)
	if end < 0 {
		return "", errors.New("unterminated string")
	}
	v := string(p.s[p.i+1 : p.i+1+end])
	p.i += end + 2
	return v, nil
}

func (p *npyParser) tuple() ([]int, error) {
	if !p.eat('(') {
		return nil, errors.New("shape is not a tuple")
	}
	dims := []int{}
	for {
		p.space()
		if p.eat(')') {
			return dims, nil
		}
		j := p.i
		for j < len(p.s) && p.s[j] >= '0' && p.s[j] <= '9' {
			j++
		}
		if j == p.i || j-p.i > 12 {
			return nil, errors.New("shape holds something other than a non-negative integer")
		}
		d, err := strconv.Atoi(string(p.s[p.i:j]))
		if err != nil {
			return nil, err
		}
		dims = append(dims, d)
		p.i = j
		p.space()
		if p.eat(',') {
			continue
		}
		p.space()
		if !p.eat(')') {
			return nil, errors.New("shape tuple is malformed")
		}
		return dims, nil
	}
}
