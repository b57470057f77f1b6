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
	"os"
	"path"
	"strings"
	"sync"

	"github.com/glipctl/glipctl/internal/ckpt"
)

// maxPickle bounds a data.pkl held in memory. Real checkpoints' pickles are
// a few MB (the tensors' bytes are elsewhere).
const maxPickle = 1 << 30

// Open reads the PyTorch checkpoint at path (zip or legacy format). The
// result reads tensors from the open file until Close.
func Open(name string, opts ckpt.OpenOptions) (*ckpt.Checkpoint, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	c, err := Read(f, st.Size(), name, opts)
	if err != nil {
		f.Close()
		return nil, err
	}
	c.Closer = f
	return c, nil
}

// Read reads a PyTorch checkpoint of the given size from r; name is used in
// errors and as Checkpoint.Path.
func Read(r io.ReaderAt, size int64, name string, opts ckpt.OpenOptions) (*ckpt.Checkpoint, error) {
	var head [4]byte
	if n, _ := r.ReadAt(head[:], 0); n < 2 {
		return nil, fmt.Errorf("%s: not a PyTorch checkpoint (file too short)", name)
	}
	var c *ckpt.Checkpoint
	var err error
	switch {
	case string(head[:]) == "PK\x03\x04":
		c, err = readZip(r, size, opts)
	case head[0] == 0x80:
		c, err = readLegacy(r, size, opts)
	default:
		err = errors.New("not a PyTorch checkpoint (neither a zip archive nor a pickle)")
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	c.Path = name
	return c, nil
}

// readZip reads the torch >= 1.6 format: a zip archive with <dir>/data.pkl
// and the storages as <dir>/data/<key>.
func readZip(r io.ReaderAt, size int64, opts ckpt.OpenOptions) (*ckpt.Checkpoint, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, fmt.Errorf("not a valid PyTorch zip archive: %w", err)
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
		b, err := readSmall(bo, 16)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", bo.Name, err)
		}
		if strings.TrimSpace(string(b)) != "little" {
			return nil, fmt.Errorf("byte order %q is not supported (only little)", strings.TrimSpace(string(b)))
		}
	}
	data, err := readSmall(pkl, maxPickle)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", pkl.Name, err)
	}
	if _, err := scanPickle(bufio.NewReader(bytes.NewReader(data)), int64(len(data))); err != nil {
		return nil, fmt.Errorf("%s: %w", pkl.Name, err)
	}
	u := newUnpickler(opts.Strict)
	obj, err := u.load(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", pkl.Name, err)
	}
	located := map[string]storageData{}
	for _, s := range u.order {
		f, ok := entries[dir+"/data/"+s.key]
		if !ok {
			return nil, fmt.Errorf("storage %q is missing from the archive (no %s/data/%s)", s.key, dir, s.key)
		}
		sd, err := zipStorage(r, size, f)
		if err != nil {
			return nil, err
		}
		need, ok := s.dtype.Bytes(s.numel)
		if !ok || need > sd.nbytes {
			return nil, fmt.Errorf("storage %q declares %d elements of %s but %s holds %d bytes", s.key, s.numel, s.dtype.TorchName(), f.Name, sd.nbytes)
		}
		located[s.key] = sd
	}
	return build(obj, u, located, ckpt.FormatTorchZip)
}

// zipStorage locates a storage entry's bytes: a section of the file for a
// stored entry (torch never compresses), a streaming inflater otherwise.
func zipStorage(r io.ReaderAt, size int64, f *zip.File) (storageData, error) {
	n := f.UncompressedSize64
	if n > uint64(1)<<62 {
		return storageData{}, fmt.Errorf("%s: size %d is implausible", f.Name, n)
	}
	off, err := f.DataOffset()
	if err != nil {
		return storageData{}, fmt.Errorf("%s: %w", f.Name, err)
	}
	switch f.Method {
	case zip.Store:
		if f.CompressedSize64 != n || off < 0 || uint64(off)+n > uint64(size) {
			return storageData{}, fmt.Errorf("%s: %d bytes at offset %d run past the end of the %d-byte file", f.Name, n, off, size)
		}
		return storageData{r: io.NewSectionReader(r, off, int64(n)), nbytes: int64(n)}, nil
	case zip.Deflate:
		if uint64(off)+f.CompressedSize64 > uint64(size) {
			return storageData{}, fmt.Errorf("%s: compressed data runs past the end of the file", f.Name)
		}
		return storageData{r: &inflater{src: io.NewSectionReader(r, off, int64(f.CompressedSize64)), size: int64(n)}, nbytes: int64(n)}, nil
	}
	return storageData{}, fmt.Errorf("%s: unsupported zip compression method %d", f.Name, f.Method)
}

// readSmall reads a whole zip entry that must not exceed limit bytes.
func readSmall(f *zip.File, limit int64) ([]byte, error) {
	if f.UncompressedSize64 > uint64(limit) {
		return nil, fmt.Errorf("entry of %d bytes is larger than %d", f.UncompressedSize64, limit)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, int64(f.UncompressedSize64)+1))
	if err != nil {
		return nil, err
	}
	if uint64(len(b)) != f.UncompressedSize64 {
		return nil, fmt.Errorf("entry holds %d bytes, its header says %d", len(b), f.UncompressedSize64)
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
// located storages.
func build(obj any, u *unpickler, located map[string]storageData, format ckpt.Format) (*ckpt.Checkpoint, error) {
	w := &walker{active: map[any]bool{}}
	w.bind = func(tr *tensorRef, name string) (*ckpt.Tensor, error) {
		if name == "" {
			name = "(root)"
		}
		return bindTensor(tr, name, located[tr.storage.key])
	}
	if err := w.walk("", obj, 0); err != nil {
		return nil, err
	}
	return &ckpt.Checkpoint{
		Format:   format,
		Tensors:  w.tensors,
		Leaves:   w.leaves,
		Warnings: u.warnings,
	}, nil
}
