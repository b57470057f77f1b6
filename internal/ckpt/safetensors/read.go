// Package safetensors reads and writes safetensors files.
//
// A file is an 8-byte little-endian header length N, N bytes of UTF-8 JSON
//
//	{"__metadata__": {"key": "value"}, "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}}
//
// (padded with spaces), then the tensor bytes: C order, little-endian, with
// data_offsets relative to the first byte after the header, covering the
// data section exactly, without gaps or overlaps.
//
// The reader trusts nothing in the header: the length is bounded by the file
// size and by MaxHeader; the JSON must be valid UTF-8 and well formed, with
// no duplicate names; each tensor's dtype must be known, its shape must not
// overflow, and its byte range must hold exactly the bytes its dtype and
// shape need; the ranges, taken in offset order, must tile the data section.
// Tensor bytes are not read: each Tensor.Data is a section of the file.
//
// The writer is deterministic (tensors in the order given, metadata keys
// sorted, the header padded with spaces to a multiple of 8) and streams:
// the header follows from the shapes alone, and the tensors are copied in
// chunks of ChunkBytes.
package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"unicode/utf8"

	"github.com/glipctl/glipctl/internal/ckpt"
)

// MaxHeader is the largest header length the reader accepts, as in the
// reference implementation (100 MB).
const MaxHeader = 100_000_000

// MaxDims is the largest number of dimensions the reader accepts.
const MaxDims = 64

// metadataKey is the reserved header key holding the string metadata.
const metadataKey = "__metadata__"

// dtypes are the safetensors dtype names glipctl reads and writes.
var dtypes = map[string]ckpt.DType{
	"F64":  ckpt.F64,
	"F32":  ckpt.F32,
	"F16":  ckpt.F16,
	"BF16": ckpt.BF16,
	"I64":  ckpt.I64,
	"I32":  ckpt.I32,
	"I16":  ckpt.I16,
	"I8":   ckpt.I8,
	"U8":   ckpt.U8,
	"BOOL": ckpt.Bool,
}

// entry is one tensor of the header, validated on its own.
type entry struct {
	name       string
	dtype      ckpt.DType
	shape      []int64
	begin, end int64
	index      int // position in the header
}

// Open opens the safetensors file at path. The caller must Close the result.
func Open(path string) (*ckpt.Checkpoint, error) {
	f, size, err := ckpt.OpenRegular(path)
	if err != nil {
		return nil, err
	}
	c, err := Read(f, size, path)
	if err != nil {
		f.Close()
		return nil, err
	}
	c.Closer = f
	return c, nil
}

// Read reads the safetensors file of the given size from r; name (usually
// the path) is used in errors and as Checkpoint.Path. Tensors come in
// data-offset order and read from r on demand.
func Read(r io.ReaderAt, size int64, name string) (*ckpt.Checkpoint, error) {
	c, err := read(r, size, name)
	if err != nil {
		return nil, ckpt.WrapFormat(ckpt.FormatSafetensors, name, err)
	}
	return c, nil
}

func read(r io.ReaderAt, size int64, name string) (*ckpt.Checkpoint, error) {
	hdr, err := readHeader(r, size)
	if err != nil {
		return nil, err
	}
	entries, meta, err := parseHeader(hdr)
	if err != nil {
		return nil, err
	}
	dataStart := 8 + int64(len(hdr)) // at most size: readHeader checked
	if err := checkLayout(entries, size-dataStart, dataStart); err != nil {
		return nil, err
	}
	c := &ckpt.Checkpoint{Path: name, Format: ckpt.FormatSafetensors, Metadata: meta}
	src := ckpt.Source{File: name, Format: ckpt.FormatSafetensors}
	for _, e := range entries {
		c.Tensors = append(c.Tensors, &ckpt.Tensor{
			Name:  e.name,
			DType: e.dtype,
			Shape: e.shape,
			Data:  ckpt.SectionData(r, src, e.name, dataStart+e.begin, e.end-e.begin),
		})
	}
	return c, nil
}

// readHeader returns the JSON header after checking its length against the
// file size and MaxHeader.
func readHeader(r io.ReaderAt, size int64) ([]byte, error) {
	if size < 8 {
		return nil, fmt.Errorf("file is %d bytes, too short for the 8-byte header length", size)
	}
	var lenBuf [8]byte
	if err := readAt(r, lenBuf[:], 0); err != nil {
		return nil, fmt.Errorf("reading the header length: %w", err)
	}
	n := binary.LittleEndian.Uint64(lenBuf[:])
	switch {
	case n > MaxHeader:
		return nil, fmt.Errorf("header length %d exceeds the limit of %d bytes", n, MaxHeader)
	case n > uint64(size-8):
		return nil, fmt.Errorf("header length %d exceeds the %d bytes after the length field", n, size-8)
	case n < 2:
		return nil, fmt.Errorf("header length %d is too short for a JSON object", n)
	}
	hdr := make([]byte, n)
	if err := readAt(r, hdr, 8); err != nil {
		return nil, fmt.Errorf("reading the %d-byte header: %w", n, err)
	}
	if !utf8.Valid(hdr) {
		return nil, errors.New("header is not valid UTF-8")
	}
	if hdr[0] != '{' {
		return nil, fmt.Errorf("header does not start with '{' (starts with %q)", hdr[0])
	}
	return hdr, nil
}

func readAt(r io.ReaderAt, buf []byte, off int64) error {
	n, err := r.ReadAt(buf, off)
	if n == len(buf) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// parseHeader parses the JSON header into its tensor entries (in header
// order, each validated on its own) and its metadata.
func parseHeader(hdr []byte) ([]entry, map[string]string, error) {
	dec := json.NewDecoder(bytes.NewReader(hdr))
	dec.UseNumber()
	if err := expectDelim(dec, '{', "header"); err != nil {
		return nil, nil, err
	}
	var entries []entry
	var meta map[string]string
	seen := map[string]bool{}
	for dec.More() {
		key, err := stringToken(dec, "header key")
		if err != nil {
			return nil, nil, err
		}
		if seen[key] {
			return nil, nil, fmt.Errorf("header has %q twice", key)
		}
		seen[key] = true
		if key == metadataKey {
			if meta, err = parseMetadata(dec); err != nil {
				return nil, nil, err
			}
			continue
		}
		e, err := parseEntry(dec, key)
		if err != nil {
			return nil, nil, err
		}
		e.index = len(entries)
		entries = append(entries, e)
	}
	if err := expectDelim(dec, '}', "header"); err != nil {
		return nil, nil, err
	}
	if rest := hdr[dec.InputOffset():]; len(bytes.TrimLeft(rest, " \t\r\n")) != 0 {
		return nil, nil, fmt.Errorf("header has data after the JSON object (at byte %d)", dec.InputOffset())
	}
	return entries, meta, nil
}

// parseMetadata parses the value of "__metadata__": an object of strings,
// or null.
func parseMetadata(dec *json.Decoder) (map[string]string, error) {
	tok, err := token(dec)
	if err != nil {
		return nil, err
	}
	if tok == nil {
		return nil, nil
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("%s is %s, want an object of strings", metadataKey, describe(tok))
	}
	meta := map[string]string{}
	for dec.More() {
		k, err := stringToken(dec, metadataKey+" key")
		if err != nil {
			return nil, err
		}
		if _, dup := meta[k]; dup {
			return nil, fmt.Errorf("%s has %q twice", metadataKey, k)
		}
		v, err := stringToken(dec, fmt.Sprintf("%s[%q]", metadataKey, k))
		if err != nil {
			return nil, err
		}
		meta[k] = v
	}
	if err := expectDelim(dec, '}', metadataKey); err != nil {
		return nil, err
	}
	return meta, nil
}

// parseEntry parses one tensor's {"dtype", "shape", "data_offsets"} object
// and checks it on its own: known dtype, a shape whose size does not
// overflow, and offsets whose range holds exactly that many bytes. Fields
// other than these three are skipped.
func parseEntry(dec *json.Decoder, name string) (entry, error) {
	e := entry{name: name}
	what := fmt.Sprintf("tensor %q", name)
	if err := expectDelim(dec, '{', what); err != nil {
		return e, err
	}
	var haveDType, haveShape, haveOffsets bool
	for dec.More() {
		field, err := stringToken(dec, what+" field")
		if err != nil {
			return e, err
		}
		switch field {
		case "dtype":
			if haveDType {
				return e, fmt.Errorf("%s has dtype twice", what)
			}
			haveDType = true
			s, err := stringToken(dec, what+" dtype")
			if err != nil {
				return e, err
			}
			dt, ok := dtypes[s]
			if !ok {
				return e, fmt.Errorf("%s has unsupported dtype %q (supported: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL)", what, s)
			}
			e.dtype = dt
		case "shape":
			if haveShape {
				return e, fmt.Errorf("%s has shape twice", what)
			}
			haveShape = true
			if e.shape, err = intArray(dec, what+" shape", MaxDims); err != nil {
				return e, err
			}
			if e.shape == nil {
				e.shape = []int64{}
			}
		case "data_offsets":
			if haveOffsets {
				return e, fmt.Errorf("%s has data_offsets twice", what)
			}
			haveOffsets = true
			offs, err := intArray(dec, what+" data_offsets", 2)
			if err != nil {
				return e, err
			}
			if len(offs) != 2 {
				return e, fmt.Errorf("%s data_offsets has %d numbers, want 2", what, len(offs))
			}
			e.begin, e.end = offs[0], offs[1]
		default:
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return e, fmt.Errorf("%s field %q: invalid JSON: %v", what, field, err)
			}
		}
	}
	if err := expectDelim(dec, '}', what); err != nil {
		return e, err
	}
	switch {
	case !haveDType:
		return e, fmt.Errorf("%s has no dtype", what)
	case !haveShape:
		return e, fmt.Errorf("%s has no shape", what)
	case !haveOffsets:
		return e, fmt.Errorf("%s has no data_offsets", what)
	}
	return e, checkEntry(e)
}

// checkEntry checks that an entry's byte range holds its shape exactly.
func checkEntry(e entry) error {
	numel, ok := ckpt.Numel(e.shape)
	if !ok {
		return fmt.Errorf("tensor %q: shape %s overflows", e.name, ckpt.ShapeString(e.shape))
	}
	nbytes, ok := e.dtype.Bytes(numel)
	if !ok {
		return fmt.Errorf("tensor %q: %d elements of %s overflow int64 bytes", e.name, numel, e.dtype)
	}
	if e.end < e.begin {
		return fmt.Errorf("tensor %q: data_offsets [%d, %d] end before they begin", e.name, e.begin, e.end)
	}
	if n, ok := ckpt.AddSize(e.begin, nbytes); !ok || n != e.end {
		return fmt.Errorf("tensor %q: data_offsets [%d, %d] hold %d bytes, shape %s of %s needs %d",
			e.name, e.begin, e.end, e.end-e.begin, ckpt.ShapeString(e.shape), e.dtype, nbytes)
	}
	return nil
}

// checkLayout sorts entries by offset and checks that they tile the data
// section of dataLen bytes: no gap, no overlap, nothing left over.
func checkLayout(entries []entry, dataLen, dataStart int64) error {
	sort.SliceStable(entries, func(i, j int) bool {
		a, b := entries[i], entries[j]
		if a.begin != b.begin {
			return a.begin < b.begin
		}
		return a.end < b.end
	})
	next := int64(0)
	for _, e := range entries {
		if e.end > dataLen {
			return ckpt.Atf(dataStart+e.begin, "tensor %q: data_offsets [%d, %d] run past the %d-byte data section", e.name, e.begin, e.end, dataLen)
		}
		if e.begin < next {
			return ckpt.Atf(dataStart+e.begin, "tensor %q: data_offsets [%d, %d] overlap the tensor before it (which ends at %d)", e.name, e.begin, e.end, next)
		}
		if e.begin > next {
			return ckpt.Atf(dataStart+next, "tensor %q: data_offsets [%d, %d] leave a gap after byte %d", e.name, e.begin, e.end, next)
		}
		next = e.end
	}
	if next != dataLen {
		return ckpt.Atf(dataStart+next, "data section is %d bytes, the tensors cover %d", dataLen, next)
	}
	return nil
}

// intArray parses a JSON array of at most max non-negative integers.
func intArray(dec *json.Decoder, what string, max int) ([]int64, error) {
	if err := expectDelim(dec, '[', what); err != nil {
		return nil, err
	}
	var out []int64
	for dec.More() {
		if len(out) == max {
			return nil, fmt.Errorf("%s has more than %d numbers", what, max)
		}
		tok, err := token(dec)
		if err != nil {
			return nil, err
		}
		num, ok := tok.(json.Number)
		if !ok {
			return nil, fmt.Errorf("%s holds %s, want non-negative integers", what, describe(tok))
		}
		v, err := strconv.ParseInt(num.String(), 10, 64)
		if err != nil || v < 0 {
			return nil, fmt.Errorf("%s holds %s, want integers from 0 to %d", what, num, int64(1<<63-1))
		}
		out = append(out, v)
	}
	if err := expectDelim(dec, ']', what); err != nil {
		return nil, err
	}
	return out, nil
}

func token(dec *json.Decoder) (json.Token, error) {
	tok, err := dec.Token()
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("invalid JSON header at byte %d: %v", dec.InputOffset(), err)
	}
	return tok, nil
}

func expectDelim(dec *json.Decoder, want json.Delim, what string) error {
	tok, err := token(dec)
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("%s: found %s where %q belongs", what, describe(tok), string(want))
	}
	return nil
}

func stringToken(dec *json.Decoder, what string) (string, error) {
	tok, err := token(dec)
	if err != nil {
		return "", err
	}
	s, ok := tok.(string)
	if !ok {
		return "", fmt.Errorf("%s is %s, want a string", what, describe(tok))
	}
	return s, nil
}

// describe names a JSON token briefly for an error.
func describe(tok json.Token) string {
	switch v := tok.(type) {
	case nil:
		return "null"
	case json.Delim:
		switch v {
		case '{', '}':
			return "an object"
		default:
			return "an array"
		}
	case string:
		if len(v) > 40 {
			v = v[:40] + "..."
		}
		return fmt.Sprintf("the string %q", v)
	case json.Number:
		return "the number " + v.String()
	case bool:
		return fmt.Sprintf("%t", v)
	}
	return fmt.Sprintf("%v", tok)
}
