package pth

// The writer: torch.save's zip format, byte for byte as torch 1.13 writes
// it for a state dict (an OrderedDict of contiguous tensors, each with its
// own storage), streamed from the tensors' readers.
//
// What torch 1.13's torch.save(obj, f) writes, and this file reproduces:
//   - <archive>/data.pkl: the pickle (protocol 2, Python's memo numbering),
//     then <archive>/data/<key> for each storage in the string order of
//     the keys ("0", "1", "10", "11", ..., "2", ...), then
//     <archive>/version ("3\n"). Torch 1.13 writes no byteorder record.
//   - Every record is a stored (uncompressed) zip entry with flags 0x0808
//     (data descriptor, UTF-8 names), version 0, date and time 0, a local
//     "FB" extra field of 'Z' bytes that puts the data at a multiple of 64,
//     and a 16-byte data descriptor after the data.
//   - The central directory, a zip64 end-of-central-directory record and
//     locator (written even for small archives), and the classic end record.
//
// Archives of 4 GiB or more need zip64 fields in the local headers, which
// this writer does not produce: Write refuses them.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/glipctl/glipctl/internal/ckpt"
)

// WriteOptions controls Write.
type WriteOptions struct {
	// Container, when not empty, wraps the state dict in a plain dict under
	// this key, as the official GLIP checkpoints do ({"model": OrderedDict}).
	// When empty the OrderedDict itself is saved, as mmpretrain's
	// converters do.
	Container string
	// Archive is the top-level directory of the zip archive. torch.save
	// uses the file's base name without extension for a path and "archive"
	// for a file object; empty means "archive".
	Archive string
}

// Write writes tensors, in order, as torch.save(OrderedDict(...)) does
// (torch 1.13: pickle protocol 2, stored zip, 64-byte aligned records,
// fixed timestamps), so torch.load returns an OrderedDict with these
// names, dtypes, shapes and values. Each tensor's bytes are read from its
// Data in chunks while they are written; nothing is held. Tensor names must
// be unique valid UTF-8; Q8_0 tensors cannot be saved by torch and are
// refused.
func Write(w io.Writer, tensors []*ckpt.Tensor, opts WriteOptions) error {
	archive := opts.Archive
	if archive == "" {
		archive = "archive"
	}
	if !utf8.ValidString(archive) || len(archive) > 255 || archive == "." || archive == ".." || strings.ContainsAny(archive, "/\\\x00") {
		return fmt.Errorf("pth: invalid archive name %q", archive)
	}
	if !utf8.ValidString(opts.Container) {
		return fmt.Errorf("pth: container key %q is not valid UTF-8", opts.Container)
	}
	seen := make(map[string]bool, len(tensors))
	for _, t := range tensors {
		if err := t.Check(); err != nil {
			return fmt.Errorf("pth: %w", err)
		}
		if _, ok := wrStorageClass[t.DType]; !ok {
			return fmt.Errorf("pth: tensor %q: torch has no storage for dtype %s", t.Name, t.DType)
		}
		if !utf8.ValidString(t.Name) {
			return fmt.Errorf("pth: tensor name %q is not valid UTF-8", t.Name)
		}
		if seen[t.Name] {
			return fmt.Errorf("pth: tensor %q appears twice", t.Name)
		}
		seen[t.Name] = true
	}

	z := &wrZip{w: w}
	pkl := wrPickle(tensors, opts.Container)
	if err := z.record(archive+"/data.pkl", int64(len(pkl)), func(dst io.Writer) error {
		_, err := dst.Write(pkl)
		return err
	}); err != nil {
		return err
	}
	// torch.save writes the storages in the string order of their keys.
	keys := make([]string, len(tensors))
	for i := range tensors {
		keys[i] = strconv.Itoa(i)
	}
	sort.Strings(keys)
	var buf []byte
	for _, k := range keys {
		i, _ := strconv.Atoi(k)
		t := tensors[i]
		err := z.record(archive+"/data/"+k, t.NBytes(), func(dst io.Writer) error {
			for _, c := range t.Chunks(wrChunkBytes) {
				if int64(cap(buf)) < c.Len {
					buf = make([]byte, c.Len)
				}
				b := buf[:c.Len]
				if err := t.ReadChunk(c, b); err != nil {
					return err
				}
				if _, err := dst.Write(b); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	if err := z.record(archive+"/version", 2, func(dst io.Writer) error {
		_, err := io.WriteString(dst, "3\n")
		return err
	}); err != nil {
		return err
	}
	return z.finish()
}

// wrChunkBytes is how much of a tensor Write reads at a time.
const wrChunkBytes = 1 << 20

// wrStorageClass names the torch storage class of each dtype.
var wrStorageClass = map[ckpt.DType]string{
	ckpt.F64:  "DoubleStorage",
	ckpt.F32:  "FloatStorage",
	ckpt.F16:  "HalfStorage",
	ckpt.BF16: "BFloat16Storage",
	ckpt.I64:  "LongStorage",
	ckpt.I32:  "IntStorage",
	ckpt.I16:  "ShortStorage",
	ckpt.I8:   "CharStorage",
	ckpt.U8:   "ByteStorage",
	ckpt.Bool: "BoolStorage",
}

// wrContiguousStrides returns the strides torch gives a contiguous tensor
// of this shape (a dimension of size 0 counts as 1).
func wrContiguousStrides(shape []int64) []int64 {
	st := make([]int64, len(shape))
	s := int64(1)
	for i := len(shape) - 1; i >= 0; i-- {
		st[i] = s
		s *= max(shape[i], 1)
	}
	return st
}

// Pickle opcodes (protocol 2).
const (
	wrOpMark       = '('
	wrOpStop       = '.'
	wrOpBinInt     = 'J'
	wrOpBinInt1    = 'K'
	wrOpBinInt2    = 'M'
	wrOpLong1      = '\x8a'
	wrOpLong4      = '\x8b'
	wrOpBinPersID  = 'Q'
	wrOpReduce     = 'R'
	wrOpBinUnicode = 'X'
	wrOpGlobal     = 'c'
	wrOpBinGet     = 'h'
	wrOpLongBinGet = 'j'
	wrOpBinPut     = 'q'
	wrOpLongBinPut = 'r'
	wrOpEmptyDict  = '}'
	wrOpEmptyTuple = ')'
	wrOpTuple      = 't'
	wrOpTuple1     = '\x85'
	wrOpTuple2     = '\x86'
	wrOpTuple3     = '\x87'
	wrOpSetItem    = 's'
	wrOpSetItems   = 'u'
	wrOpNewFalse   = '\x89'
	wrOpProto      = '\x80'
)

// wrBatch is Python's pickle BATCHSIZE: dict items go out in SETITEMS
// batches of at most this many.
const wrBatch = 1000

// wrPickler emits the opcodes Python's pickle.Pickler (protocol 2) emits
// for torch.save's objects, with the same memo numbering.
type wrPickler struct {
	b       bytes.Buffer
	next    int            // next memo index
	globals map[string]int // memo index of each global already written
	consts  map[string]int // memo index of the interned strings "storage" and "cpu"
}

func (p *wrPickler) op(c byte) { p.b.WriteByte(c) }

// put memoizes the object just written.
func (p *wrPickler) put() int {
	i := p.next
	p.next++
	if i < 256 {
		p.b.WriteByte(wrOpBinPut)
		p.b.WriteByte(byte(i))
	} else {
		p.b.WriteByte(wrOpLongBinPut)
		p.b.Write(binary.LittleEndian.AppendUint32(nil, uint32(i)))
	}
	return i
}

func (p *wrPickler) get(i int) {
	if i < 256 {
		p.b.WriteByte(wrOpBinGet)
		p.b.WriteByte(byte(i))
	} else {
		p.b.WriteByte(wrOpLongBinGet)
		p.b.Write(binary.LittleEndian.AppendUint32(nil, uint32(i)))
	}
}

func (p *wrPickler) global(module, name string) {
	k := module + "\n" + name
	if i, ok := p.globals[k]; ok {
		p.get(i)
		return
	}
	p.op(wrOpGlobal)
	p.b.WriteString(k + "\n")
	p.globals[k] = p.put()
}

// str writes a new (not yet memoized) string.
func (p *wrPickler) str(s string) {
	p.op(wrOpBinUnicode)
	p.b.Write(binary.LittleEndian.AppendUint32(nil, uint32(len(s))))
	p.b.WriteString(s)
	p.put()
}

// constStr writes a string that is one object in every tensor's pickle
// (an interned constant in torch's code), memoized on first use.
func (p *wrPickler) constStr(s string) {
	if i, ok := p.consts[s]; ok {
		p.get(i)
		return
	}
	p.op(wrOpBinUnicode)
	p.b.Write(binary.LittleEndian.AppendUint32(nil, uint32(len(s))))
	p.b.WriteString(s)
	p.consts[s] = p.put()
}

// int writes an int as Pickler.save_long does for protocol 2.
func (p *wrPickler) int(v int64) {
	switch {
	case v >= 0 && v <= 0xff:
		p.op(wrOpBinInt1)
		p.b.WriteByte(byte(v))
	case v >= 0 && v <= 0xffff:
		p.op(wrOpBinInt2)
		p.b.Write(binary.LittleEndian.AppendUint16(nil, uint16(v)))
	case v >= math.MinInt32 && v <= math.MaxInt32:
		p.op(wrOpBinInt)
		p.b.Write(binary.LittleEndian.AppendUint32(nil, uint32(int32(v))))
	default:
		// pickle.encode_long: little-endian two's complement, shortest
		// form that keeps the sign.
		var le []byte
		x := uint64(v)
		for i := 0; i < 8; i++ {
			le = append(le, byte(x>>(8*i)))
		}
		for len(le) > 1 {
			last, prev := le[len(le)-1], le[len(le)-2]
			if (last == 0 && prev&0x80 == 0) || (last == 0xff && prev&0x80 != 0) {
				le = le[:len(le)-1]
				continue
			}
			break
		}
		p.op(wrOpLong1)
		p.b.WriteByte(byte(len(le)))
		p.b.Write(le)
	}
}

// intTuple writes a new tuple of ints as Pickler.save_tuple does.
func (p *wrPickler) intTuple(v []int64) {
	switch len(v) {
	case 0:
		p.op(wrOpEmptyTuple)
		return
	case 1, 2, 3:
		for _, x := range v {
			p.int(x)
		}
		p.op([]byte{wrOpTuple1, wrOpTuple2, wrOpTuple3}[len(v)-1])
	default:
		p.op(wrOpMark)
		for _, x := range v {
			p.int(x)
		}
		p.op(wrOpTuple)
	}
	p.put()
}

// ordered writes a new, empty collections.OrderedDict().
func (p *wrPickler) ordered() {
	p.global("collections", "OrderedDict")
	p.op(wrOpEmptyTuple)
	p.op(wrOpReduce)
	p.put()
}

// tensor writes what Tensor.__reduce_ex__ gives for a contiguous tensor
// with its own storage (key), as torch 1.13's torch.save pickles it.
func (p *wrPickler) tensor(t *ckpt.Tensor, key string) {
	p.global("torch._utils", "_rebuild_tensor_v2")
	p.op(wrOpMark) // the args tuple
	// The persistent id ('storage', torch.XStorage, key, 'cpu', numel).
	p.op(wrOpMark)
	p.constStr("storage")
	p.global("torch", wrStorageClass[t.DType])
	p.str(key)
	p.constStr("cpu")
	p.int(t.Numel())
	p.op(wrOpTuple)
	p.put()
	p.op(wrOpBinPersID)
	p.int(0) // storage offset
	p.intTuple(t.Shape)
	p.intTuple(wrContiguousStrides(t.Shape))
	p.op(wrOpNewFalse) // requires_grad
	p.ordered()        // backward hooks
	p.op(wrOpTuple)
	p.put()
	p.op(wrOpReduce)
	p.put()
}

// wrPickle returns the data.pkl of the state dict (wrapped in {container:
// ...} when container is set).
func wrPickle(tensors []*ckpt.Tensor, container string) []byte {
	p := &wrPickler{globals: map[string]int{}, consts: map[string]int{}}
	p.op(wrOpProto)
	p.op(2)
	if container != "" {
		p.op(wrOpEmptyDict)
		p.put()
		p.str(container)
	}
	p.ordered()
	for start := 0; start < len(tensors); start += wrBatch {
		batch := tensors[start:min(start+wrBatch, len(tensors))]
		if len(batch) > 1 {
			p.op(wrOpMark)
		}
		for i, t := range batch {
			p.str(t.Name)
			p.tensor(t, strconv.Itoa(start+i))
		}
		if len(batch) > 1 {
			p.op(wrOpSetItems)
		} else {
			p.op(wrOpSetItem)
		}
	}
	if container != "" {
		p.op(wrOpSetItem)
	}
	p.op(wrOpStop)
	return p.b.Bytes()
}

// wrZip writes a stored zip archive the way torch's PyTorchStreamWriter
// (miniz) does.
type wrZip struct {
	w       io.Writer
	off     int64
	entries []wrZipEntry
}

type wrZipEntry struct {
	name   string
	crc    uint32
	size   int64
	offset int64
}

// wrAlign is torch's record alignment (kFieldAlignment).
const wrAlign = 64

// wrLimit is the largest offset or size this writer handles without zip64
// fields.
const wrLimit = math.MaxUint32 - 1

var errWrTooLarge = errors.New("pth: archives of 4 GiB or more are not supported")

func (z *wrZip) write(b []byte) error {
	n, err := z.w.Write(b)
	z.off += int64(n)
	return err
}

// record writes one entry of size bytes, produced by fill.
func (z *wrZip) record(name string, size int64, fill func(io.Writer) error) error {
	if z.off > wrLimit || size > wrLimit {
		return errWrTooLarge
	}
	start := z.off + 30 + int64(len(name)) + 4
	pad := (wrAlign - start%wrAlign) % wrAlign
	h := make([]byte, 0, 30+len(name)+4+int(pad))
	le := binary.LittleEndian
	h = le.AppendUint32(h, 0x04034b50)
	h = le.AppendUint16(h, 0) // version needed
	h = le.AppendUint16(h, wrFlags(size))
	h = le.AppendUint16(h, 0) // stored
	h = le.AppendUint16(h, 0) // time
	h = le.AppendUint16(h, 0) // date
	h = le.AppendUint32(h, 0) // crc (in the descriptor)
	h = le.AppendUint32(h, 0) // compressed size
	h = le.AppendUint32(h, 0) // size
	h = le.AppendUint16(h, uint16(len(name)))
	h = le.AppendUint16(h, uint16(4+pad))
	h = append(h, name...)
	h = append(h, 'F', 'B')
	h = le.AppendUint16(h, uint16(pad))
	for i := int64(0); i < pad; i++ {
		h = append(h, 'Z')
	}
	e := wrZipEntry{name: name, offset: z.off}
	if err := z.write(h); err != nil {
		return err
	}
	cw := &wrCRCWriter{z: z}
	if err := fill(cw); err != nil {
		return err
	}
	if cw.n != size {
		return fmt.Errorf("pth: %s: wrote %d bytes, expected %d", name, cw.n, size)
	}
	e.crc, e.size = cw.crc, size
	z.entries = append(z.entries, e)
	if size == 0 {
		return nil // miniz writes no descriptor for an empty record
	}
	d := make([]byte, 0, 16)
	d = le.AppendUint32(d, 0x08074b50)
	d = le.AppendUint32(d, e.crc)
	d = le.AppendUint32(d, uint32(size))
	d = le.AppendUint32(d, uint32(size))
	return z.write(d)
}

// wrFlags are the general-purpose flags miniz gives a record: UTF-8 names,
// and a data descriptor unless the record is empty.
func wrFlags(size int64) uint16 {
	if size == 0 {
		return 0x0800
	}
	return 0x0808
}

// finish writes the central directory and the end records.
func (z *wrZip) finish() error {
	le := binary.LittleEndian
	cdOff := z.off
	if cdOff > wrLimit {
		return errWrTooLarge
	}
	for _, e := range z.entries {
		c := make([]byte, 0, 46+len(e.name))
		c = le.AppendUint32(c, 0x02014b50)
		c = le.AppendUint16(c, 0) // version made by
		c = le.AppendUint16(c, 0) // version needed
		c = le.AppendUint16(c, wrFlags(e.size))
		c = le.AppendUint16(c, 0) // stored
		c = le.AppendUint16(c, 0) // time
		c = le.AppendUint16(c, 0) // date
		c = le.AppendUint32(c, e.crc)
		c = le.AppendUint32(c, uint32(e.size))
		c = le.AppendUint32(c, uint32(e.size))
		c = le.AppendUint16(c, uint16(len(e.name)))
		c = le.AppendUint16(c, 0) // extra
		c = le.AppendUint16(c, 0) // comment
		c = le.AppendUint16(c, 0) // disk
		c = le.AppendUint16(c, 0) // internal attributes
		c = le.AppendUint32(c, 0) // external attributes
		c = le.AppendUint32(c, uint32(e.offset))
		c = append(c, e.name...)
		if err := z.write(c); err != nil {
			return err
		}
	}
	cdSize := z.off - cdOff
	z64 := z.off
	if z64 > wrLimit {
		return errWrTooLarge
	}
	n := uint64(len(z.entries))
	t := make([]byte, 0, 56+20+22)
	t = le.AppendUint32(t, 0x06064b50)
	t = le.AppendUint64(t, 44)
	t = le.AppendUint16(t, 0x031e) // made by: unix, 3.0
	t = le.AppendUint16(t, 0x002d) // needed: 4.5 (zip64)
	t = le.AppendUint32(t, 0)
	t = le.AppendUint32(t, 0)
	t = le.AppendUint64(t, n)
	t = le.AppendUint64(t, n)
	t = le.AppendUint64(t, uint64(cdSize))
	t = le.AppendUint64(t, uint64(cdOff))
	t = le.AppendUint32(t, 0x07064b50)
	t = le.AppendUint32(t, 0)
	t = le.AppendUint64(t, uint64(z64))
	t = le.AppendUint32(t, 1)
	t = le.AppendUint32(t, 0x06054b50)
	t = le.AppendUint16(t, 0)
	t = le.AppendUint16(t, 0)
	t = le.AppendUint16(t, uint16(min(n, 0xffff)))
	t = le.AppendUint16(t, uint16(min(n, 0xffff)))
	t = le.AppendUint32(t, uint32(cdSize))
	t = le.AppendUint32(t, uint32(cdOff))
	t = le.AppendUint16(t, 0)
	return z.write(t)
}

// wrCRCWriter passes a record's bytes to the archive, computing their CRC.
type wrCRCWriter struct {
	z   *wrZip
	crc uint32
	n   int64
}

func (c *wrCRCWriter) Write(p []byte) (int, error) {
	if c.z.off+int64(len(p)) > wrLimit {
		return 0, errWrTooLarge
	}
	n, err := c.z.w.Write(p)
	c.z.off += int64(n)
	c.crc = crc32.Update(c.crc, crc32.IEEETable, p[:n])
	c.n += int64(n)
	return n, err
}
