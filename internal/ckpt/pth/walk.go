package pth

import (
	"fmt"
	"io"
	"math/big"
	"strings"

	"github.com/glipctl/glipctl/internal/ckpt"
	"github.com/nlpodyssey/gopickle/types"
)

// Limits on the unpickled object graph: how deep containers may nest and
// how many values the walk visits (shared objects count each time they are
// reached), so that a small hostile pickle cannot make the walk explode.
const (
	maxDepth  = 128
	maxVisits = 1 << 20
)

// walker flattens an unpickled object into named tensors and leaves.
type walker struct {
	// bind makes the tensor of a view, or says why it is unsupported.
	bind        func(*tensorRef, string) (*ckpt.Tensor, string, error)
	tensors     []*ckpt.Tensor
	leaves      []ckpt.Leaf
	unsupported []ckpt.Unsupported
	visits      int
	active      map[any]bool // containers on the current path, to stop cycles
}

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "/" + key
}

func (w *walker) walk(name string, v any, depth int) error {
	w.visits++
	if w.visits > maxVisits {
		return fmt.Errorf("object graph has more than %d values", maxVisits)
	}
	if depth > maxDepth {
		return fmt.Errorf("%s: containers nested more than %d deep", shortPath(name), maxDepth)
	}
	switch x := v.(type) {
	case *tensorRef:
		if x.storage.unsupported != "" {
			w.unsupported = append(w.unsupported, ckpt.Unsupported{Name: rootName(name), Reason: x.storage.unsupported})
			return nil
		}
		t, why, err := w.bind(x, name)
		if err != nil {
			return err
		}
		if why != "" {
			w.unsupported = append(w.unsupported, ckpt.Unsupported{Name: rootName(name), Reason: why})
			return nil
		}
		w.tensors = append(w.tensors, t)
		return nil
	case *unsupportedTensor:
		w.unsupported = append(w.unsupported, ckpt.Unsupported{Name: rootName(name), Reason: x.reason})
		return nil
	case *types.OrderedDict, *types.Dict, *types.List, *types.Tuple:
		if w.active[x] {
			w.leaf(name, "cycle", "<reference to an enclosing container>")
			return nil
		}
		w.active[x] = true
		defer delete(w.active, x)
	}
	switch x := v.(type) {
	case *types.OrderedDict:
		if x.Len() == 0 {
			w.leaf(name, "dict", "{}")
		}
		for e := x.List.Front(); e != nil; e = e.Next() {
			entry := e.Value.(*types.OrderedDictEntry)
			if err := w.walk(join(name, keyString(entry.Key)), entry.Value, depth+1); err != nil {
				return err
			}
		}
	case *types.Dict:
		if len(*x) == 0 {
			w.leaf(name, "dict", "{}")
		}
		// A pickled dict may repeat a key; like Python, the last value
		// wins, at the first key's position.
		last := map[string]int{}
		for i, e := range *x {
			last[keyString(e.Key)] = i
		}
		seen := map[string]bool{}
		for _, e := range *x {
			k := keyString(e.Key)
			if seen[k] {
				continue
			}
			seen[k] = true
			if err := w.walk(join(name, k), (*x)[last[k]].Value, depth+1); err != nil {
				return err
			}
		}
	case *types.List:
		return w.seq(name, "list", *x, depth)
	case *types.Tuple:
		return w.seq(name, "tuple", *x, depth)
	default:
		w.leaf(name, kindOf(v), brief(v))
	}
	return nil
}

// seq walks a list or tuple: one leaf for a sequence of plain values, else
// each item under its index.
func (w *walker) seq(name, kind string, items []any, depth int) error {
	plain := true
	for _, it := range items {
		switch it.(type) {
		case *tensorRef, *types.OrderedDict, *types.Dict, *types.List, *types.Tuple:
			plain = false
		}
	}
	if plain {
		w.leaf(name, kind, brief(types.NewTupleFromSlice(items)))
		if kind == "list" {
			w.leaves[len(w.leaves)-1].Value = "[" + strings.TrimSuffix(strings.TrimPrefix(w.leaves[len(w.leaves)-1].Value, "("), ")") + "]"
		}
		return nil
	}
	for i, it := range items {
		if err := w.walk(join(name, fmt.Sprint(i)), it, depth+1); err != nil {
			return err
		}
	}
	return nil
}

func rootName(name string) string {
	if name == "" {
		return "(root)"
	}
	return name
}

// shortPath keeps a long key path, for an error line, to its first and
// last parts ("a/b/.../y/z").
func shortPath(name string) string {
	const keep = 2
	parts := strings.Split(name, "/")
	if len(name) <= 80 && len(parts) <= 2*keep+1 {
		return name
	}
	if len(parts) > 2*keep {
		name = strings.Join(parts[:keep], "/") + fmt.Sprintf("/...(%d levels).../", len(parts)-2*keep) + strings.Join(parts[len(parts)-keep:], "/")
	}
	return ckpt.Abbreviate(name, 120)
}

func (w *walker) leaf(name, kind, value string) {
	name = rootName(name)
	w.leaves = append(w.leaves, ckpt.Leaf{Name: name, Kind: kind, Value: value})
}

func keyString(k any) string {
	switch x := k.(type) {
	case string:
		return x
	case int, int64, *big.Int, bool, float64:
		return brief(x)
	case nil:
		return "None"
	}
	return brief(k)
}

func kindOf(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case bool:
		return "bool"
	case int, int64, *big.Int:
		return "int"
	case float64:
		return "float"
	case string:
		return "str"
	case []byte:
		return "bytes"
	case *numpyScalar:
		return "numpy " + kindOf(x.value)
	case *refusedObject, *refusedClass:
		return "refused"
	case *inertObject:
		return x.kind
	case *storageRef:
		return "storage"
	}
	return "object"
}

// storageData locates a storage's bytes: r reads them from offset base
// (r is the file and base the file offset for a stored entry; r is an
// inflater and base 0 for a deflated one).
type storageData struct {
	r      io.ReaderAt
	base   int64
	nbytes int64
	src    ckpt.Source
}

// bindTensor makes the ckpt.Tensor of a view over a located storage: a
// section of the file when the view is contiguous, a gathering reader when
// it is strided. The view was checked against its storage when it was
// unpickled. A strided view's C-order bytes must fit in int64 (an error
// otherwise); an expanded view whose C-order bytes exceed the file's size
// is unsupported (reading it whole would allocate more than the file).
func bindTensor(tr *tensorRef, name string, sd storageData, fileSize int64) (*ckpt.Tensor, string, error) {
	dt := tr.storage.dtype
	es := int64(dt.Size())
	t := &ckpt.Tensor{Name: name, DType: dt, Shape: tr.shape}
	n, ok := ckpt.Numel(tr.shape)
	if !ok {
		return nil, "", fmt.Errorf("tensor %q: size %v overflows", shortPath(name), tr.shape)
	}
	nbytes, ok := dt.Bytes(n)
	if !ok {
		return nil, "", fmt.Errorf("tensor %q: size %s of %s: its C-order byte size does not fit in int64", shortPath(name), ckpt.ShapeString(tr.shape), dt)
	}
	if contiguous(tr.shape, tr.stride) || n == 0 {
		off, _ := ckpt.MulSize(tr.offset, es) // inside the storage: checked
		t.Data = ckpt.SectionData(sd.r, sd.src, name, sd.base+off, nbytes)
		return t, "", nil
	}
	if nbytes > fileSize {
		return nil, fmt.Sprintf("strided view of %d bytes (size %s, stride %v) is larger than the %d-byte file", nbytes, ckpt.ShapeString(tr.shape), tr.stride, fileSize), nil
	}
	storage := ckpt.SectionData(sd.r, sd.src, name, sd.base, sd.nbytes)
	t.Data = &stridedData{src: storage, esize: es, offset: tr.offset, shape: tr.shape, stride: tr.stride, name: name, nbytes: nbytes}
	return t, "", nil
}

// contiguous reports whether stride is the C-order stride of shape (dims of
// size 1 may have any stride).
func contiguous(shape, stride []int64) bool {
	want := int64(1)
	for i := len(shape) - 1; i >= 0; i-- {
		if shape[i] != 1 && stride[i] != want {
			return false
		}
		want *= shape[i]
	}
	return true
}
