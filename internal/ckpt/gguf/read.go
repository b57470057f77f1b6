package gguf

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/glipctl/glipctl/internal/ckpt"
)

// Limits of the reader, beyond what the file size allows.
const (
	MaxDims       = 4       // ggml's GGML_MAX_DIMS
	MaxNameLen    = 63      // ggml's GGML_MAX_NAME less the terminating NUL
	DefaultAlign  = 32      // the alignment when general.alignment is absent
	maxKeyLen     = 65535   // the spec's limit for a key
	maxStringLen  = 1 << 24 // 16 MiB for one string value
	maxValues     = 1 << 22 // metadata values (array items included) in a file
	maxDepth      = 8       // nesting of arrays of arrays
	maxTensors    = 1 << 20
	maxKVs        = 1 << 20
	minKVBytes    = 8 + 4 + 1     // empty key, type, a one-byte value
	minInfoBytes  = 8 + 4 + 4 + 8 // empty name, n_dims 0, type, offset
	alignmentKey  = "general.alignment"
	headerMinSize = 4 + 4 + 8 + 8
)

// File is a GGUF file as read: its header, typed metadata, tensor infos,
// and the checkpoint view of its tensors.
type File struct {
	Version   uint32
	Alignment uint32 // general.alignment, or 32
	// KVs are the metadata pairs in file order.
	KVs []KV
	// Infos are the tensor infos in file order (names as stored, dims
	// innermost first, offsets relative to DataOffset).
	Infos []TensorInfo
	// DataOffset is where the data section starts in the file.
	DataOffset int64
	// Naming is the declared naming scheme (NamingShortV1) or "".
	Naming string
	// Checkpoint has the tensors in file order (PyTorch shapes, long
	// names) and the metadata rendered as strings (see Value.String).
	Checkpoint *ckpt.Checkpoint
}

// TensorInfo is one tensor info as the file has it.
type TensorInfo struct {
	Name   string
	Dims   []uint64 // innermost first
	Type   GGMLType
	Offset uint64 // relative to the data section

	pos int64 // where the info starts in the file, for errors
}

// Lookup returns the value of a metadata key.
func (f *File) Lookup(key string) (Value, bool) {
	for _, kv := range f.KVs {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return Value{}, false
}

// Open opens the GGUF file at path. The caller must Close the result.
func Open(path string) (*ckpt.Checkpoint, error) {
	f, err := OpenFile(path)
	if err != nil {
		return nil, err
	}
	return f.Checkpoint, nil
}

// Read reads a GGUF file of the given size from r; name (usually the
// path) is used in errors and as Checkpoint.Path.
func Read(r io.ReaderAt, size int64, name string) (*ckpt.Checkpoint, error) {
	f, err := ReadFile(r, size, name)
	if err != nil {
		return nil, err
	}
	return f.Checkpoint, nil
}

// OpenFile opens the GGUF file at path with its typed metadata. The caller
// must Close its Checkpoint.
func OpenFile(path string) (*File, error) {
	osf, size, err := ckpt.OpenRegular(path)
	if err != nil {
		return nil, err
	}
	f, err := ReadFile(osf, size, path)
	if err != nil {
		osf.Close()
		return nil, err
	}
	f.Checkpoint.Closer = osf
	return f, nil
}

// ReadFile reads a GGUF file (v2 or v3, little-endian) of the given size
// from r, with its typed metadata. Every count and length in the header is
// checked against what the rest of the file can hold before it is used;
// tensor data is not read (each Tensor.Data is a section of r).
func ReadFile(r io.ReaderAt, size int64, name string) (*File, error) {
	f, err := readFile(r, size, name)
	if err != nil {
		return nil, ckpt.WrapFormat(ckpt.FormatGGUF, name, err)
	}
	return f, nil
}

func readFile(r io.ReaderAt, size int64, name string) (*File, error) {
	if size < headerMinSize {
		return nil, fmt.Errorf("file is %d bytes, too short for a GGUF header", size)
	}
	c := &cursor{br: bufio.NewReaderSize(io.NewSectionReader(r, 0, size), 1<<16), size: size, budget: maxValues}
	f := &File{}
	nt, nkv, err := c.preamble(f)
	if err != nil {
		return nil, err
	}
	if err := c.kvs(f, nkv); err != nil {
		return nil, err
	}
	if err := f.settings(); err != nil {
		return nil, err
	}
	if err := c.infos(f, nt); err != nil {
		return nil, err
	}
	f.DataOffset = pad(c.off, int64(f.Alignment))
	tensors, err := f.tensors(r, size, name)
	if err != nil {
		return nil, err
	}
	meta := make(map[string]string, len(f.KVs))
	for _, kv := range f.KVs {
		meta[kv.Key] = kv.Value.String()
	}
	f.Checkpoint = &ckpt.Checkpoint{Path: name, Format: ckpt.FormatGGUF, Tensors: tensors, Metadata: meta}
	return f, nil
}

// cursor reads the header sequentially, knowing how much of the file is
// left.
type cursor struct {
	br     *bufio.Reader
	off    int64 // bytes consumed
	size   int64
	budget int // metadata values still allowed
}

func (c *cursor) left() int64 { return c.size - c.off }

func (c *cursor) read(p []byte) error {
	if int64(len(p)) > c.left() {
		return ckpt.Atf(c.off, "file ends %d bytes into a %d-byte field", c.left(), len(p))
	}
	n, err := io.ReadFull(c.br, p)
	c.off += int64(n)
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return ckpt.Atf(c.off, "%w", err)
	}
	return nil
}

func (c *cursor) u32() (uint32, error) {
	var b [4]byte
	err := c.read(b[:])
	return binary.LittleEndian.Uint32(b[:]), err
}

func (c *cursor) u64() (uint64, error) {
	var b [8]byte
	err := c.read(b[:])
	return binary.LittleEndian.Uint64(b[:]), err
}

// str reads a length-prefixed string of at most limit bytes.
func (c *cursor) str(what string, limit uint64) (string, error) {
	at := c.off
	n, err := c.u64()
	if err != nil {
		return "", err
	}
	if n > limit {
		return "", ckpt.Atf(at, "%s length %d exceeds the limit of %d", what, n, limit)
	}
	if n > uint64(c.left()) {
		return "", ckpt.Atf(at, "%s length %d exceeds the %d bytes left in the file", what, n, c.left())
	}
	b := make([]byte, n)
	if err := c.read(b); err != nil {
		return "", err
	}
	return string(b), nil
}

// count reads a uint64 count of items of at least minBytes each and checks
// it against limit and against what the rest of the file can hold.
func (c *cursor) count(what string, minBytes, limit int64) (int64, error) {
	at := c.off
	n, err := c.u64()
	if err != nil {
		return 0, err
	}
	if n > uint64(limit) {
		return 0, ckpt.Atf(at, "%s %d exceeds the limit of %d", what, n, limit)
	}
	if minBytes > 0 && n > uint64(c.left()/minBytes) {
		return 0, ckpt.Atf(at, "%s %d cannot fit in the %d bytes left in the file", what, n, c.left())
	}
	return int64(n), nil
}

// preamble reads magic, version and the two counts.
func (c *cursor) preamble(f *File) (nt, nkv int64, err error) {
	var magic [4]byte
	if err := c.read(magic[:]); err != nil {
		return 0, 0, err
	}
	if string(magic[:]) != "GGUF" {
		return 0, 0, fmt.Errorf("no GGUF magic (file starts with %q)", magic[:])
	}
	v, err := c.u32()
	if err != nil {
		return 0, 0, err
	}
	switch {
	case v == 2 || v == 3:
	case v&0xffff == 0 && bits32Swap(v) <= 3:
		return 0, 0, fmt.Errorf("big-endian GGUF (version %d) is not supported", bits32Swap(v))
	case v == 1:
		return 0, 0, errors.New("GGUF version 1 is not supported (2 and 3 are)")
	default:
		return 0, 0, fmt.Errorf("unknown GGUF version %d (2 and 3 are supported)", v)
	}
	f.Version = v
	at := c.off
	t, err := c.u64()
	if err != nil {
		return 0, 0, err
	}
	kv, err := c.u64()
	if err != nil {
		return 0, 0, err
	}
	switch {
	case t > maxTensors:
		return 0, 0, ckpt.Atf(at, "tensor count %d exceeds the limit of %d", t, maxTensors)
	case kv > maxKVs:
		return 0, 0, ckpt.Atf(at+8, "metadata pair count %d exceeds the limit of %d", kv, maxKVs)
	}
	nt, nkv = int64(t), int64(kv)
	a, ok1 := ckpt.MulSize(nt, minInfoBytes)
	b, ok2 := ckpt.MulSize(nkv, minKVBytes)
	if need, ok3 := ckpt.AddSize(a, b); !ok1 || !ok2 || !ok3 || need > c.left() {
		return 0, 0, fmt.Errorf("%d tensor infos and %d metadata pairs cannot fit in the %d bytes left in the file", nt, nkv, c.left())
	}
	return nt, nkv, nil
}

func bits32Swap(v uint32) uint32 {
	return v>>24 | v>>8&0xff00 | v<<8&0xff0000 | v<<24
}

// kvs reads the metadata pairs.
func (c *cursor) kvs(f *File, n int64) error {
	seen := make(map[string]bool)
	for i := int64(0); i < n; i++ {
		key, err := c.str("key", maxKeyLen)
		if err != nil {
			return fmt.Errorf("metadata pair %d: %w", i, err)
		}
		if seen[key] {
			return fmt.Errorf("metadata pair %d: key %q appears twice", i, key)
		}
		seen[key] = true
		t, err := c.u32()
		if err != nil {
			return fmt.Errorf("metadata %q: %w", key, err)
		}
		v, err := c.value(Type(t), 0)
		if err != nil {
			return fmt.Errorf("metadata %q: %w", key, err)
		}
		f.KVs = append(f.KVs, KV{Key: key, Value: v})
	}
	return nil
}

// value reads a value of type t at array nesting depth.
func (c *cursor) value(t Type, depth int) (Value, error) {
	if c.budget == 0 {
		return Value{}, ckpt.Atf(c.off, "more than %d metadata values", maxValues)
	}
	c.budget--
	switch {
	case !t.Valid():
		return Value{}, ckpt.Atf(c.off, "unknown value type %d", uint32(t))
	case t == TypeString:
		s, err := c.str("string", maxStringLen)
		return String(s), err
	case t == TypeArray:
		return c.array(depth)
	}
	var b [8]byte
	sz := t.size()
	if err := c.read(b[:sz]); err != nil {
		return Value{}, err
	}
	v := Value{typ: t, bits: binary.LittleEndian.Uint64(b[:])}
	switch t { // sign-extend
	case TypeInt8:
		v.bits = uint64(int64(int8(b[0])))
	case TypeInt16:
		v.bits = uint64(int64(int16(binary.LittleEndian.Uint16(b[:]))))
	case TypeInt32:
		v.bits = uint64(int64(int32(binary.LittleEndian.Uint32(b[:]))))
	}
	return v, nil
}

// array reads an array's element type, count and elements.
func (c *cursor) array(depth int) (Value, error) {
	if depth >= maxDepth {
		return Value{}, ckpt.Atf(c.off, "arrays nested more than %d deep", maxDepth)
	}
	et, err := c.u32()
	if err != nil {
		return Value{}, err
	}
	elem := Type(et)
	if !elem.Valid() {
		return Value{}, ckpt.Atf(c.off-4, "unknown array element type %d", et)
	}
	n, err := c.count("array length", elem.minSize(), int64(c.budget))
	if err != nil {
		return Value{}, err
	}
	items := make([]Value, 0, min(n, 1024))
	for i := int64(0); i < n; i++ {
		it, err := c.value(elem, depth+1)
		if err != nil {
			return Value{}, fmt.Errorf("array item %d: %w", i, err)
		}
		items = append(items, it)
	}
	return Array(elem, items...), nil
}

// settings takes the alignment and the naming scheme from the metadata.
func (f *File) settings() error {
	f.Alignment = DefaultAlign
	if v, ok := f.Lookup(alignmentKey); ok {
		a, isUint := v.Uint()
		if !isUint || v.Type() != TypeUint32 {
			return fmt.Errorf("%s is a %s, want a uint32", alignmentKey, v.Type())
		}
		if a == 0 || a&(a-1) != 0 {
			return fmt.Errorf("%s is %d, not a power of two", alignmentKey, a)
		}
		f.Alignment = uint32(a)
	}
	if v, ok := f.Lookup(NamingKey); ok {
		s, isStr := v.Str()
		if !isStr {
			return fmt.Errorf("%s is a %s, want a string", NamingKey, v.Type())
		}
		if s != NamingShortV1 {
			return fmt.Errorf("%s is %q, an unknown naming scheme (this glipctl knows %q)", NamingKey, s, NamingShortV1)
		}
		f.Naming = s
	}
	return nil
}

// infos reads the tensor infos.
func (c *cursor) infos(f *File, n int64) error {
	for i := int64(0); i < n; i++ {
		ti, err := c.info()
		if err != nil {
			return fmt.Errorf("tensor info %d: %w", i, err)
		}
		f.Infos = append(f.Infos, ti)
	}
	return nil
}

func (c *cursor) info() (TensorInfo, error) {
	ti := TensorInfo{pos: c.off}
	name, err := c.str("name", maxKeyLen)
	if err != nil {
		return ti, err
	}
	ti.Name = name
	if len(name) > MaxNameLen {
		return ti, ckpt.Atf(ti.pos, "tensor %q: name is %d bytes, ggml allows %d", name, len(name), MaxNameLen)
	}
	nd, err := c.u32()
	if err != nil {
		return ti, fmt.Errorf("tensor %q: %w", name, err)
	}
	if nd > MaxDims {
		return ti, ckpt.Atf(ti.pos, "tensor %q: %d dimensions, ggml allows %d", name, nd, MaxDims)
	}
	ti.Dims = make([]uint64, nd)
	for j := range ti.Dims {
		if ti.Dims[j], err = c.u64(); err != nil {
			return ti, fmt.Errorf("tensor %q: %w", name, err)
		}
	}
	t, err := c.u32()
	if err != nil {
		return ti, fmt.Errorf("tensor %q: %w", name, err)
	}
	ti.Type = GGMLType(t)
	if ti.Offset, err = c.u64(); err != nil {
		return ti, fmt.Errorf("tensor %q: %w", name, err)
	}
	return ti, nil
}

// tensors checks the tensor infos against the data section and makes the
// checkpoint tensors: known type, shape and byte size without overflow,
// Q8_0 rows of whole blocks, aligned offsets, bytes within the file, no
// overlaps, no duplicate names, names valid in the declared scheme.
func (f *File) tensors(r io.ReaderAt, size int64, file string) ([]*ckpt.Tensor, error) {
	dataLen := max(size-f.DataOffset, 0)
	src := ckpt.Source{File: file, Format: ckpt.FormatGGUF}
	type span struct {
		name      string
		off, size int64
	}
	spans := make([]span, 0, len(f.Infos))
	tensors := make([]*ckpt.Tensor, 0, len(f.Infos))
	seen := make(map[string]bool, len(f.Infos))
	for _, ti := range f.Infos {
		t, off, err := f.tensor(ti, dataLen)
		if err != nil {
			return nil, err
		}
		if seen[ti.Name] {
			return nil, ckpt.Atf(ti.pos, "tensor %q appears twice", ti.Name)
		}
		seen[ti.Name] = true
		n := t.NBytes()
		t.Data = ckpt.SectionData(r, src, t.Name, f.DataOffset+off, n)
		if n > 0 { // an empty tensor overlaps nothing
			spans = append(spans, span{ti.Name, off, n})
		}
		tensors = append(tensors, t)
	}
	sort.SliceStable(spans, func(i, j int) bool { return spans[i].off < spans[j].off })
	for i := 1; i < len(spans); i++ {
		p, s := spans[i-1], spans[i]
		if p.off+p.size > s.off { // both within dataLen: no overflow
			return nil, ckpt.Atf(f.DataOffset+s.off, "tensor %q (bytes %d to %d) overlaps tensor %q (bytes %d to %d)",
				s.name, s.off, s.off+s.size, p.name, p.off, p.off+p.size)
		}
	}
	return tensors, nil
}

// tensor checks one tensor info against the data section and returns the
// tensor (without Data) and its offset in the data section.
func (f *File) tensor(ti TensorInfo, dataLen int64) (*ckpt.Tensor, int64, error) {
	fail := func(format string, args ...any) (*ckpt.Tensor, int64, error) {
		return nil, 0, ckpt.Atf(ti.pos, "tensor %q: "+format, append([]any{ti.Name}, args...)...)
	}
	dt, ok := ti.Type.DType()
	if !ok {
		return fail("unsupported ggml type %s (supported: F32 F16 Q8_0 I8 I16 I32 I64 F64 BF16)", ti.Type)
	}
	shape := make([]int64, len(ti.Dims))
	for j, d := range ti.Dims {
		v, ok := ckpt.SizeU64(d)
		if !ok {
			return fail("dimension %d is too large", d)
		}
		shape[len(shape)-1-j] = v
	}
	numel, ok := ckpt.Numel(shape)
	if !ok {
		return fail("shape %s overflows", ckpt.ShapeString(shape))
	}
	if dt == ckpt.Q8_0 && (len(ti.Dims) == 0 || ti.Dims[0]%ckpt.Q8Block != 0) {
		return fail("Q8_0 rows must be whole blocks of %d, shape is %s", ckpt.Q8Block, ckpt.ShapeString(shape))
	}
	nbytes, ok := dt.Bytes(numel)
	if !ok {
		return fail("%d elements of %s overflow int64 bytes", numel, dt)
	}
	if ti.Offset%uint64(f.Alignment) != 0 {
		return fail("offset %d is not a multiple of the alignment %d", ti.Offset, f.Alignment)
	}
	off, ok := ckpt.SizeU64(ti.Offset)
	if !ok || !ckpt.Within(off, nbytes, dataLen) {
		return fail("%d bytes at offset %d run past the %d-byte data section", nbytes, ti.Offset, dataLen)
	}
	name, stored := ti.Name, ""
	if f.Naming == NamingShortV1 {
		long, ok := LongName(ti.Name)
		if !ok {
			return fail("not a %s name", NamingShortV1)
		}
		if long != ti.Name {
			name, stored = long, ti.Name
		}
	}
	return &ckpt.Tensor{Name: name, Stored: stored, DType: dt, Shape: shape}, off, nil
}

// pad rounds n up to a multiple of align (a power of two).
func pad(n, align int64) int64 {
	return (n + align - 1) &^ (align - 1)
}
