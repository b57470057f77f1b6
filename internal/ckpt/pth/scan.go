package pth

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// maxLine is the longest newline-terminated pickle argument accepted.
const maxLine = 1 << 16

// scanPickle walks one pickle's opcodes from r without building anything and
// returns its length in bytes (up to and including STOP). Every length field
// is checked against limit, the bytes that remain, before it is trusted;
// unknown opcodes, memo reads of unset entries and a missing STOP are
// errors. The walk allocates nothing proportional to any field.
func scanPickle(r *bufio.Reader, limit int64) (int64, error) {
	s := scanner{r: r, left: limit, memo: map[uint64]bool{}}
	for {
		at := limit - s.left
		op, err := s.byte()
		if err != nil {
			return 0, fmt.Errorf("pickle ends without STOP at offset %d", at)
		}
		if err := s.op(op); err != nil {
			if errors.Is(err, errStop) {
				return limit - s.left, nil
			}
			return 0, fmt.Errorf("pickle opcode 0x%02x at offset %d: %w", op, at, err)
		}
	}
}

var errStop = errors.New("STOP")

type scanner struct {
	r    *bufio.Reader
	left int64
	memo map[uint64]bool
}

func (s *scanner) byte() (byte, error) {
	if s.left < 1 {
		return 0, io.ErrUnexpectedEOF
	}
	b, err := s.r.ReadByte()
	if err != nil {
		return 0, io.ErrUnexpectedEOF
	}
	s.left--
	return b, nil
}

func (s *scanner) uint(n int) (uint64, error) {
	if s.left < int64(n) {
		return 0, io.ErrUnexpectedEOF
	}
	var b [8]byte
	if _, err := io.ReadFull(s.r, b[:n]); err != nil {
		return 0, io.ErrUnexpectedEOF
	}
	s.left -= int64(n)
	return binary.LittleEndian.Uint64(b[:]), nil
}

// skip passes over n argument bytes, which must all be there.
func (s *scanner) skip(n uint64) error {
	if n > uint64(s.left) {
		return fmt.Errorf("argument of %d bytes runs past the end (%d left)", n, s.left)
	}
	if _, err := s.r.Discard(int(n)); err != nil {
		return io.ErrUnexpectedEOF
	}
	s.left -= int64(n)
	return nil
}

// line reads a newline-terminated argument.
func (s *scanner) line() (string, error) {
	var buf []byte
	for {
		b, err := s.byte()
		if err != nil {
			return "", err
		}
		if b == '\n' {
			return string(buf), nil
		}
		if len(buf) >= maxLine {
			return "", fmt.Errorf("text argument longer than %d bytes", maxLine)
		}
		buf = append(buf, b)
	}
}

func (s *scanner) put(i uint64) { s.memo[i] = true }

func (s *scanner) get(i uint64) error {
	if !s.memo[i] {
		return fmt.Errorf("memo index %d read before it was set", i)
	}
	return nil
}

func (s *scanner) op(op byte) error {
	switch op {
	case '.': // STOP
		return errStop
	// No argument.
	case '(', '0', '1', '2', 'N', 'Q', 'R', 'a', 'b', 'd', '}', 'e', 'l', ']', 'o', 's', 't', ')', 'u',
		0x81, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8f, 0x90, 0x91, 0x92, 0x93, 0x97, 0x98:
		return nil
	case 0x94: // MEMOIZE
		s.put(uint64(len(s.memo)))
		return nil
	// Fixed-size arguments.
	case 'K', 0x80, 0x82: // BININT1, PROTO, EXT1
		_, err := s.uint(1)
		return err
	case 'M', 0x83: // BININT2, EXT2
		_, err := s.uint(2)
		return err
	case 'J', 0x84: // BININT, EXT4
		_, err := s.uint(4)
		return err
	case 'G': // BINFLOAT
		_, err := s.uint(8)
		return err
	case 'h': // BINGET
		i, err := s.uint(1)
		if err != nil {
			return err
		}
		return s.get(i)
	case 'j': // LONG_BINGET
		i, err := s.uint(4)
		if err != nil {
			return err
		}
		return s.get(i)
	case 'q': // BINPUT
		i, err := s.uint(1)
		if err == nil {
			s.put(i)
		}
		return err
	case 'r': // LONG_BINPUT
		i, err := s.uint(4)
		if err == nil {
			s.put(i)
		}
		return err
	case 0x95: // FRAME: an 8-byte length, then that many bytes of opcodes
		n, err := s.uint(8)
		if err != nil {
			return err
		}
		if n > uint64(s.left) {
			return fmt.Errorf("frame of %d bytes runs past the end (%d left)", n, s.left)
		}
		return nil
	// Length-prefixed arguments.
	case 'U', 'C', 'X', 0x8c, 'T', 'B', 0x8a, 0x8b, 0x8d, 0x8e, 0x96:
		size := map[byte]int{'U': 1, 'C': 1, 0x8c: 1, 0x8a: 1, 'X': 4, 'T': 4, 'B': 4, 0x8b: 4, 0x8d: 8, 0x8e: 8, 0x96: 8}[op]
		n, err := s.uint(size)
		if err != nil {
			return err
		}
		if (op == 'T' || op == 0x8b) && n >= 1<<31 {
			return fmt.Errorf("negative length")
		}
		return s.skip(n)
	// Newline-terminated arguments.
	case 'I', 'L', 'F', 'S', 'V', 'P':
		_, err := s.line()
		return err
	case 'g': // GET
		l, err := s.line()
		if err != nil {
			return err
		}
		i, err := strconv.ParseUint(l, 10, 63)
		if err != nil {
			return fmt.Errorf("bad memo index %q", l)
		}
		return s.get(i)
	case 'p': // PUT
		l, err := s.line()
		if err != nil {
			return err
		}
		i, err := strconv.ParseUint(l, 10, 63)
		if err != nil {
			return fmt.Errorf("bad memo index %q", l)
		}
		s.put(i)
		return nil
	case 'c', 'i': // GLOBAL, INST: module and name lines
		if _, err := s.line(); err != nil {
			return err
		}
		_, err := s.line()
		return err
	}
	return fmt.Errorf("unknown pickle opcode")
}
