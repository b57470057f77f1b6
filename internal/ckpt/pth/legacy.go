package pth

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"

	"github.com/glipctl/glipctl/internal/ckpt"
	"github.com/nlpodyssey/gopickle/types"
)

// legacyMagic is the first pickle of a legacy torch.save file.
var legacyMagic = func() *big.Int {
	n, _ := new(big.Int).SetString("1950a86a20f9469cfc6c", 16)
	return n
}()

const legacyProtocol = 1001

// readLegacy reads the torch < 1.6 format: five pickles (magic number,
// protocol version, system info, the object, the storage keys) followed by
// each storage in key order as an 8-byte element count and its bytes.
func readLegacy(r io.ReaderAt, size int64, name string, opts ckpt.OpenOptions) (*ckpt.Checkpoint, error) {
	pos := int64(0)
	next := func(what string) ([]byte, error) {
		br := bufio.NewReader(io.NewSectionReader(r, pos, size-pos))
		n, err := scanPickle(br, size-pos)
		if err != nil {
			return nil, ckpt.Atf(pos, "%s pickle at offset %d: %w", what, pos, err)
		}
		if n > maxPickle {
			return nil, ckpt.Atf(pos, "%s pickle of %d bytes is larger than %d", what, n, maxPickle)
		}
		b := make([]byte, n) // n <= size-pos: scanPickle stays inside the file
		if k, err := r.ReadAt(b, pos); k != len(b) {
			return nil, ckpt.Atf(pos, "%s pickle at offset %d: %w", what, pos, err)
		}
		pos += n
		return b, nil
	}
	plain := newUnpickler(true)
	b, err := next("magic number")
	if err != nil {
		return nil, err
	}
	magic, err := plain.load(b)
	if m, ok := magic.(*big.Int); err != nil || !ok || m.Cmp(legacyMagic) != 0 {
		return nil, errors.New("a pickle, but not a PyTorch checkpoint (no legacy magic number)")
	}
	b, err = next("protocol version")
	if err != nil {
		return nil, err
	}
	proto, err := plain.load(b)
	if v, ok := asInt(proto); err != nil || !ok || v != legacyProtocol {
		return nil, fmt.Errorf("legacy protocol version %s is not supported (want %d)", brief(proto), legacyProtocol)
	}
	b, err = next("system info")
	if err != nil {
		return nil, err
	}
	info, err := plain.load(b)
	if err != nil {
		return nil, fmt.Errorf("system info pickle: %w", err)
	}
	if d, ok := info.(*types.Dict); ok {
		if le, ok := d.Get("little_endian"); ok && le == false {
			return nil, errors.New("big-endian legacy checkpoints are not supported")
		}
	}
	b, err = next("object")
	if err != nil {
		return nil, err
	}
	u := newUnpickler(opts.Strict)
	objAt := pos - int64(len(b))
	obj, err := u.load(b)
	if err != nil {
		return nil, ckpt.Atf(objAt, "object pickle: %w", err)
	}
	b, err = next("storage keys")
	if err != nil {
		return nil, err
	}
	keysObj, err := plain.load(b)
	if err != nil {
		return nil, fmt.Errorf("storage keys pickle: %w", err)
	}
	keys, ok := keysObj.(*types.List)
	if !ok {
		return nil, fmt.Errorf("storage keys pickle holds %s, not a list", brief(keysObj))
	}
	src := ckpt.Source{File: name, Format: ckpt.FormatTorchLegacy}
	located := map[string]storageData{}
	for _, k := range *keys {
		key, ok := k.(string)
		if !ok {
			return nil, fmt.Errorf("storage key %s is not a string", brief(k))
		}
		s, ok := u.storages[key]
		if !ok {
			return nil, fmt.Errorf("storage key %q is listed but no tensor uses it", key)
		}
		if _, dup := located[key]; dup {
			return nil, fmt.Errorf("storage key %q is listed twice", key)
		}
		var cnt [8]byte
		if !ckpt.Within(pos, 8, size) {
			return nil, ckpt.Atf(pos, "storage %q: file ends before its element count", key)
		}
		if k, err := r.ReadAt(cnt[:], pos); k != len(cnt) {
			return nil, ckpt.Atf(pos, "storage %q: %w", key, err)
		}
		numel, ok := ckpt.SizeU64(binary.LittleEndian.Uint64(cnt[:]))
		if !ok || numel != s.numel {
			return nil, ckpt.Atf(pos, "storage %q holds %d elements, its tensors declare %d", key, binary.LittleEndian.Uint64(cnt[:]), s.numel)
		}
		nbytes, ok := ckpt.MulSize(numel, s.esize)
		if !ok || !ckpt.Within(pos+8, nbytes, size) {
			return nil, ckpt.Atf(pos, "storage %q: %d elements of %s run past the end of the file", key, numel, s.typeName())
		}
		located[key] = storageData{r: r, base: pos + 8, nbytes: nbytes, src: src}
		pos += 8 + nbytes
	}
	for _, s := range u.order {
		if _, ok := located[s.key]; !ok {
			return nil, fmt.Errorf("storage %q is used by a tensor but missing from the file", s.key)
		}
	}
	return build(obj, u, located, ckpt.FormatTorchLegacy, size)
}
