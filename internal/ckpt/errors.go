package ckpt

import (
	"errors"
	"fmt"
	"strings"
)

// FormatError is what every reader returns for a file it cannot read: the
// file, its format, the problem, and the byte offset in the file where the
// problem is (-1 when it is not known). Its message is one line:
//
//	model.gguf: gguf: tensor "w": 8718968878589280256 elements of Q8_0 overflow int64 (offset 40)
//
// Callers branch on it with errors.As.
type FormatError struct {
	Format Format // "" when the format could not be told
	File   string
	Offset int64 // byte offset in File, -1 when unknown
	Err    error
}

// maxProblem bounds the problem part of a FormatError's message: longer
// texts keep their beginning and end.
const maxProblem = 200

func (e *FormatError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(": ")
	}
	if e.Format != "" {
		b.WriteString(string(e.Format))
		b.WriteString(": ")
	}
	msg := "unreadable"
	if e.Err != nil {
		msg = e.Err.Error()
	}
	b.WriteString(Abbreviate(strings.ReplaceAll(msg, "\n", " "), maxProblem))
	if e.Offset >= 0 {
		fmt.Fprintf(&b, " (offset %d)", e.Offset)
	}
	return b.String()
}

func (e *FormatError) Unwrap() error { return e.Err }

// Abbreviate shortens s to about max bytes by keeping its beginning and
// end around " ... ".
func Abbreviate(s string, max int) string {
	if len(s) <= max || max < 16 {
		return s
	}
	head := max * 2 / 3
	tail := max - head - 5
	return validPrefix(s[:head]) + " ... " + validSuffix(s[len(s)-tail:])
}

func validPrefix(s string) string {
	for len(s) > 0 && s[len(s)-1]&0xc0 == 0x80 {
		s = s[:len(s)-1]
	}
	if len(s) > 0 && s[len(s)-1] >= 0xc0 {
		s = s[:len(s)-1]
	}
	return s
}

func validSuffix(s string) string {
	for len(s) > 0 && s[0]&0xc0 == 0x80 {
		s = s[1:]
	}
	return s
}

// offsetError marks an error with the file offset it was found at.
type offsetError struct {
	off int64
	err error
}

func (e *offsetError) Error() string { return e.err.Error() }
func (e *offsetError) Unwrap() error { return e.err }

// At marks err as found at byte offset off of the file; WrapFormat takes
// the innermost such offset into its FormatError.
func At(off int64, err error) error {
	if err == nil {
		return nil
	}
	return &offsetError{off: off, err: err}
}

// Atf is At(off, fmt.Errorf(format, args...)).
func Atf(off int64, format string, args ...any) error {
	return At(off, fmt.Errorf(format, args...))
}

// WrapFormat returns err as a *FormatError of file in the given format,
// with the offset of the innermost At in err's chain (-1 without one). An
// err that already is a FormatError naming a file is returned as it is;
// nil stays nil.
func WrapFormat(format Format, file string, err error) error {
	if err == nil {
		return nil
	}
	var fe *FormatError
	if errors.As(err, &fe) && fe.File != "" {
		return err
	}
	off := int64(-1)
	for e := err; e != nil; e = errors.Unwrap(e) {
		if oe, ok := e.(*offsetError); ok {
			off = oe.off
		}
	}
	return &FormatError{Format: format, File: file, Offset: off, Err: err}
}
