// Package pth reads (and writes) PyTorch checkpoints: the zip format of
// torch >= 1.6 and the legacy format before it, without executing any of
// the pickle: tensors become descriptions of storages read on demand, and
// every global outside a small allowlist becomes an inert placeholder.
package pth

import (
	"archive/zip"
	"bufio"
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"sync"

	"github.com/glipctl/glipctl/internal/ckpt"
)

// maxPickle bounds a pickle held in memory. Real checkpoints' pickles are a
// few MB (the tensors' bytes are elsewhere); a stored data.pkl is bounded by
// the file's size too.
const maxPickle = 1 << 30

// maxInflatedPickle bounds a deflated data.pkl (torch writes stored entries
// only; a deflated one comes from re-zipping), so that a small file cannot
// inflate into a large pickle.
const maxInflatedPickle = 64 << 20

// maxDeflateRatio is deflate's largest possible expansion (258 bytes from
// 2 bits): an entry declaring more than this many bytes per compressed
// byte is corrupt.
const maxDeflateRatio = 1032

// Open reads the PyTorch checkpoint at path (zip or legacy format). The
// result reads tensors from the open file until Close.
func Open(name string, opts ckpt.OpenOptions) (*ckpt.Checkpoint, error) {
	f, size, err := ckpt.OpenRegular(name)
	if err != nil {
		return nil, err
	}
	c, err := Read(f, size, name, opts)
	if err != nil {
		f.Close()
		return nil, err
	}
	c.Closer = f
	return c, nil
}

// Read reads a PyTorch checkpoint of the given size from r; name is used in
// errors and as Checkpoint.Path. Errors are *ckpt.FormatError.
func Read(r io.ReaderAt, size int64, name string, opts ckpt.OpenOptions) (*ckpt.Checkpoint, error) {
	var head [4]byte
	if n, _ := r.ReadAt(head[:], 0); n < 2 || size < 2 {
		return nil, ckpt.WrapFormat("", name, errors.New("not a PyTorch checkpoint (file too short)"))
	}
	var c *ckpt.Checkpoint
	var err error
	var format ckpt.Format
	switch {
	case string(head[:]) == "PK\x03\x04":
		format = ckpt.FormatTorchZip
		c, err = readZip(r, size, name, opts)
	case head[0] == 0x80:
		format = ckpt.FormatTorchLegacy
		c, err = readLegacy(r, size, name, opts)
	default:
		err = errors.New("not a PyTorch checkpoint (neither a zip archive nor a pickle)")
	}
	if err != nil {
		return nil, ckpt.WrapFormat(format, name, err)
	}
	c.Path = name
	return c, nil
}

// readZip reads the torch >= 1.6 format: a zip archive with <dir>/data.pkl
// and the storages as <dir>/data/<key>.
func readZip(r io.ReaderAt, size int64, name string, opts ckpt.OpenOptions) (*ckpt.Checkpoint, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, fmt.Errorf("not a valid PyTorch zip archive: %w", zipProblem(err))
	}
	spans, err := entrySpans(zr.File, size)
	if err != nil {
		return nil, err
	}
	entries := map[string]*zip.File{}
	var pkl *zip.File
	for _, f := range zr.File {
		entries[f.Name] = f
		if path.Base(f.Name) == "data.pkl" && strings.Count(f.Name, "/") == 1 {
			if pkl != nil {
				return nil, fmt.Errorf("archive holds two data.pkl (%s and %s)", pkl.Name, f.Name)
			}
			pkl = f
		}
	}
	if pkl == nil {
		return nil, errors.New("zip archive has no <dir>/data.pkl: not a PyTorch checkpoint")
	}
	dir := path.Dir(pkl.Name)
	if bo, ok := entries[dir+"/byteorder"]; ok {
		b, err := readEntry(bo, spans[bo], 16)
		if err != nil {
			return nil, err
		}
		if strings.TrimSpace(string(b)) != "little" {
			return nil, fmt.Errorf("byte order %q is not supported (only little)", strings.TrimSpace(string(b)))
		}
	}
	limit := int64(maxPickle)
	if pkl.Method != zip.Store {
		limit = maxInflatedPickle
	}
	data, err := readEntry(pkl, spans[pkl], limit)
	if err != nil {
		return nil, err
	}
	at := spans[pkl].off
	if pkl.Method != zip.Store {
		at = -1 // offsets inside an inflated entry are not file offsets
	}
	if _, err := scanPickle(bufio.NewReader(bytes.NewReader(data)), int64(len(data))); err != nil {
		return nil, pickleError(pkl.Name, at, err)
	}
	u := newUnpickler(opts.Strict)
	obj, err := u.load(data)
	if err != nil {
		return nil, pickleError(pkl.Name, at, err)
	}
	src := ckpt.Source{File: name, Format: ckpt.FormatTorchZip}
	located := map[string]storageData{}
	for _, s := range u.order {
		f, ok := entries[dir+"/data/"+s.key]
		if !ok {
			return nil, fmt.Errorf("storage %q is missing from the archive (no %s/data/%s)", s.key, dir, s.key)
		}
		sd, err := zipStorage(r, size, f, spans[f], src)
		if err != nil {
			return nil, err
		}
		need, ok := ckpt.MulSize(s.numel, s.esize)
		if !ok || need > sd.nbytes {
			return nil, ckpt.Atf(spans[f].off, "storage %q declares %d elements of %s but %s holds %d bytes", s.key, s.numel, s.typeName(), f.Name, sd.nbytes)
		}
		located[s.key] = sd
	}
	return build(obj, u, located, ckpt.FormatTorchZip, size)
}

// pickleError places an error of the pickle in entry (whose bytes start at
// file offset at, or -1) in the file.
func pickleError(entry string, at int64, err error) error {
	err = fmt.Errorf("%s: %w", entry, err)
	if at >= 0 {
		return ckpt.At(at, err)
	}
	return err
}

// zipProblem says what archive/zip's terse errors mean for a checkpoint.
func zipProblem(err error) error {
	if errors.Is(err, zip.ErrFormat) {
		return errors.New("no end-of-central-directory record (truncated, or not a zip file)")
	}
	if strings.Contains(err.Error(), "negative offset") {
		return fmt.Errorf("the end record places the central directory or an entry outside the file (truncated or corrupt archive)")
	}
	return err
}

// span is where an entry's data lies in the file.
type span struct {
	off, n int64 // data offset and compressed size
}

// entrySpans locates every entry's data and checks it lies inside the file
// and overlaps no other entry's: an archive whose entries share bytes is
// refused (a zip-bomb construction; no zip writer makes one).
func entrySpans(files []*zip.File, size int64) (map[*zip.File]span, error) {
	out := make(map[*zip.File]span, len(files))
	type named struct {
		name string
		span
	}
	var list []named
	for _, f := range files {
		off, err := f.DataOffset()
		if err != nil {
			return nil, fmt.Errorf("%s: local header: %w", f.Name, zipProblem(err))
		}
		n, ok := ckpt.SizeU64(f.CompressedSize64)
		if !ok || off < 0 || !ckpt.Within(off, n, size) {
			return nil, ckpt.Atf(max(off, 0), "%s: %d bytes at offset %d run past the end of the %d-byte file", f.Name, f.CompressedSize64, off, size)
		}
		sp := span{off, n}
		out[f] = sp
		if n > 0 {
			list = append(list, named{f.Name, sp})
		}
	}
	sort.Slice(list, func(i, j int) bool { return list[i].off < list[j].off })
	for i := 1; i < len(list); i++ {
		p, q := list[i-1], list[i]
		if p.off+p.n > q.off { // both inside the file: no overflow
			return nil, ckpt.Atf(q.off, "zip entries %s (bytes %d to %d) and %s (bytes %d to %d) overlap", p.name, p.off, p.off+p.n, q.name, q.off, q.off+q.n)
		}
	}
	return out, nil
}

// zipStorage locates a storage entry's bytes: a section of the file for a
// stored entry (torch never compresses), a streaming inflater otherwise.
func zipStorage(r io.ReaderAt, fileSize int64, f *zip.File, sp span, src ckpt.Source) (storageData, error) {
	n, ok := ckpt.SizeU64(f.UncompressedSize64)
	if !ok {
		return storageData{}, ckpt.Atf(sp.off, "%s: size %d is implausible", f.Name, f.UncompressedSize64)
	}
	switch f.Method {
	case zip.Store:
		if sp.n != n {
			return storageData{}, ckpt.Atf(sp.off, "%s: stored entry of %d bytes declares %d uncompressed", f.Name, sp.n, n)
		}
		return storageData{r: r, base: sp.off, nbytes: n, src: src}, nil
	case zip.Deflate:
		// torch stores storages; a deflated one (a re-zipped file) may not
		// declare more bytes than the file holds, so that reading it never
		// allocates more than the file's size.
		if n > fileSize {
			return storageData{}, ckpt.Atf(sp.off, "%s: deflated storage declares %d bytes, more than the %d-byte file", f.Name, n, fileSize)
		}
		in := &inflater{src: io.NewSectionReader(r, sp.off, sp.n), size: n}
		esrc := src
		esrc.Entry = f.Name
		return storageData{r: in, nbytes: n, src: esrc}, nil
	}
	return storageData{}, ckpt.Atf(sp.off, "%s: unsupported zip compression method %d", f.Name, f.Method)
}

// readEntry reads a whole zip entry of at most limit bytes into a buffer of
// exactly its declared size, checking the declared size first and that the
// entry holds no more than it declares (and its CRC) after.
func readEntry(f *zip.File, sp span, limit int64) ([]byte, error) {
	n, ok := ckpt.SizeU64(f.UncompressedSize64)
	if !ok || n > limit {
		return nil, ckpt.Atf(sp.off, "%s: entry of %d bytes is larger than the limit of %d", f.Name, f.UncompressedSize64, limit)
	}
	if f.Method == zip.Store && n != sp.n {
		return nil, ckpt.Atf(sp.off, "%s: stored entry of %d bytes declares %d uncompressed", f.Name, sp.n, n)
	}
	if f.Method == zip.Deflate {
		if bound, ok := ckpt.MulSize(max(sp.n, 1), maxDeflateRatio); !ok || n > bound {
			return nil, ckpt.Atf(sp.off, "%s: %d compressed bytes cannot inflate to the %d declared", f.Name, sp.n, n)
		}
	}
	rc, err := f.Open()
	if err != nil {
		return nil, ckpt.Atf(sp.off, "%s: %w", f.Name, err)
	}
	defer rc.Close()
	b := make([]byte, n)
	if _, err := io.ReadFull(rc, b); err != nil {
		return nil, ckpt.Atf(sp.off, "%s: entry ends before the %d bytes its header declares: %w", f.Name, n, err)
	}
	var one [1]byte
	if k, err := rc.Read(one[:]); k > 0 || errors.Is(err, zip.ErrFormat) { // archive/zip's "more than declared"
		return nil, ckpt.Atf(sp.off, "%s: entry holds more than the %d bytes its header declares", f.Name, n)
	} else if err != nil && !errors.Is(err, io.EOF) {
		return nil, ckpt.Atf(sp.off, "%s: %w", f.Name, err)
	}
	return b, nil
}

// inflater reads a deflated entry at increasing offsets without holding it:
// a read behind the current position starts the stream again.
type inflater struct {
	mu   sync.Mutex
	src  *io.SectionReader
	size int64
	fr   io.ReadCloser
	pos  int64
}

func (z *inflater) ReadAt(p []byte, off int64) (int, error) {
	z.mu.Lock()
	defer z.mu.Unlock()
	if off < 0 || off > z.size {
		return 0, fmt.Errorf("read at %d outside %d bytes", off, z.size)
	}
	if z.fr == nil || off < z.pos {
		if z.fr != nil {
			z.fr.Close()
		}
		z.fr = flate.NewReader(io.NewSectionReader(z.src, 0, z.src.Size()))
		z.pos = 0
	}
	if _, err := io.CopyN(io.Discard, z.fr, off-z.pos); err != nil {
		return 0, fmt.Errorf("inflating: %w", err)
	}
	z.pos = off
	want := min(int64(len(p)), z.size-off)
	n, err := io.ReadFull(z.fr, p[:want])
	z.pos += int64(n)
	if err != nil {
		return n, fmt.Errorf("inflating: %w", err)
	}
	if int64(n) < int64(len(p)) {
		return n, io.EOF
	}
	return n, nil
}

// build flattens the unpickled object and binds its tensors to their
// located storages; size is the file's, which bounds what an expanded view
// may make a reader allocate.
func build(obj any, u *unpickler, located map[string]storageData, format ckpt.Format, size int64) (*ckpt.Checkpoint, error) {
	w := &walker{active: map[any]bool{}}
	w.bind = func(tr *tensorRef, name string) (*ckpt.Tensor, string, error) {
		if name == "" {
			name = "(root)"
		}
		return bindTensor(tr, name, located[tr.storage.key], size)
	}
	if err := w.walk("", obj, 0); err != nil {
		return nil, err
	}
	return &ckpt.Checkpoint{
		Format:      format,
		Tensors:     w.tensors,
		Leaves:      w.leaves,
		Unsupported: w.unsupported,
		Warnings:    u.warnings,
	}, nil
}
