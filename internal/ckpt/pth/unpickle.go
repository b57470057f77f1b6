package pth

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"sort"
	"strings"

	"github.com/glipctl/glipctl/internal/ckpt"
	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/types"
)

// storageRef is a storage named by a pickle's persistent id: its element
// type, its key in the archive (or legacy storage table) and its declared
// element count. Its bytes are bound after unpickling.
type storageRef struct {
	key   string
	dtype ckpt.DType // Invalid for an unsupported storage class
	esize int64      // bytes per element
	numel int64
	class string // "FloatStorage", ...
	// unsupported says why tensors of this storage cannot be represented
	// ("complex tensor (torch.ComplexFloatStorage)"); "" when they can.
	unsupported string
}

func (s *storageRef) typeName() string {
	if s.unsupported != "" {
		return "torch." + s.class
	}
	return s.dtype.TorchName()
}

// unsupportedTensor is a tensor glipctl cannot represent (quantized,
// sparse, complex): the walk lists it with its reason and goes on.
type unsupportedTensor struct{ reason string }

// tensorRef is what torch._utils._rebuild_tensor_v2 builds: a view of a
// storage.
type tensorRef struct {
	storage *storageRef
	offset  int64
	shape   []int64
	stride  []int64
}

// refusedClass stands for a global outside the allowlist. Calling it, or
// instantiating it, yields a refusedObject; nothing runs.
type refusedClass struct{ module, name string }

func (c *refusedClass) Call(args ...any) (any, error)  { return &refusedObject{class: c}, nil }
func (c *refusedClass) PyNew(args ...any) (any, error) { return &refusedObject{class: c}, nil }

// refusedObject is an inert placeholder for an object of a refused class.
type refusedObject struct{ class *refusedClass }

func (o *refusedObject) PySetState(any) error            { return nil }
func (o *refusedObject) PyDictSet(k, v any) error        { return nil }
func (o *refusedObject) PySetAttr(k string, v any) error { return nil }

// inertObject is an allowed plain-data object glipctl does not model (a
// numpy array, a slice); it is shown by kind only.
type inertObject struct{ kind string }

func (o *inertObject) PySetState(any) error            { return nil }
func (o *inertObject) PyDictSet(k, v any) error        { return nil }
func (o *inertObject) PySetAttr(k string, v any) error { return nil }

// numpyDType is numpy.dtype("<f4", ...) as pickled inside numpy scalars.
type numpyDType struct {
	str   string
	order byte
}

func (d *numpyDType) PySetState(state any) error {
	if t, ok := state.(*types.Tuple); ok && t.Len() > 1 {
		if s, ok := t.Get(1).(string); ok && len(s) == 1 {
			d.order = s[0]
		}
	}
	return nil
}

// numpyScalar is a decoded numpy scalar (np.float64(0.5), np.int64(3)).
type numpyScalar struct{ value any }

// callFunc adapts a Go function to a pickle callable.
type callFunc func(args ...any) (any, error)

func (f callFunc) Call(args ...any) (any, error) { return f(args...) }

var storageTypes = map[string]ckpt.DType{
	"DoubleStorage":   ckpt.F64,
	"FloatStorage":    ckpt.F32,
	"HalfStorage":     ckpt.F16,
	"BFloat16Storage": ckpt.BF16,
	"LongStorage":     ckpt.I64,
	"IntStorage":      ckpt.I32,
	"ShortStorage":    ckpt.I16,
	"CharStorage":     ckpt.I8,
	"ByteStorage":     ckpt.U8,
	"BoolStorage":     ckpt.Bool,
}

// unsupportedStorages are the torch storage classes whose tensors glipctl
// cannot represent, with their element sizes (so that a legacy file's
// storage can be skipped) and what their tensors are.
var unsupportedStorages = map[string]struct {
	esize int64
	what  string
}{
	"ComplexHalfStorage":   {4, "complex"},
	"ComplexFloatStorage":  {8, "complex"},
	"ComplexDoubleStorage": {16, "complex"},
	"QInt8Storage":         {1, "quantized"},
	"QUInt8Storage":        {1, "quantized"},
	"QInt32Storage":        {4, "quantized"},
	"QUInt4x2Storage":      {1, "quantized"},
	"QUInt2x4Storage":      {1, "quantized"},
}

// storageType is a torch.*Storage class used as a value in persistent ids.
type storageType struct {
	dtype       ckpt.DType // Invalid for an unsupported class
	esize       int64
	class       string
	unsupported string
}

// unpickler loads one pickle with glipctl's allowlist: tensors are rebuilt
// as descriptions of storages, plain data is kept, every other global is an
// inert placeholder (or an error when strict).
type unpickler struct {
	strict   bool
	warnings []string
	refused  map[string]bool
	storages map[string]*storageRef // by key
	order    []*storageRef          // in order of first mention
}

func newUnpickler(strict bool) *unpickler {
	return &unpickler{strict: strict, refused: map[string]bool{}, storages: map[string]*storageRef{}}
}

// load runs the unpickler over one complete pickle (already validated by
// scanPickle). Malformed stack manipulations inside the pickle library are
// reported as errors, never as panics.
func (u *unpickler) load(data []byte) (result any, err error) {
	defer func() {
		if r := recover(); r != nil {
			result, err = nil, fmt.Errorf("malformed pickle: %v", r)
		}
	}()
	p := pickle.NewUnpickler(bytes.NewReader(data))
	p.FindClass = u.findClass
	p.PersistentLoad = u.persistentLoad
	p.GetExtension = func(code int) (any, error) { return nil, fmt.Errorf("pickle extension codes are not supported") }
	p.NextBuffer = func() (any, error) { return nil, fmt.Errorf("out-of-band pickle buffers are not supported") }
	return p.Load()
}

func (u *unpickler) findClass(module, name string) (any, error) {
	full := module + "." + name
	switch full {
	case "torch._utils._rebuild_tensor_v2":
		return callFunc(u.rebuildTensor), nil
	case "torch._utils._rebuild_tensor":
		return callFunc(u.rebuildTensor), nil
	case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state":
		return callFunc(func(args ...any) (any, error) {
			if len(args) < 1 {
				return nil, fmt.Errorf("%s: no data argument", full)
			}
			return args[0], nil
		}), nil
	case "torch._tensor._rebuild_from_type_v2":
		return callFunc(func(args ...any) (any, error) {
			if len(args) < 3 {
				return nil, fmt.Errorf("%s: want (func, type, args, state)", full)
			}
			f, ok := args[0].(types.Callable)
			inner, ok2 := args[2].(*types.Tuple)
			if !ok || !ok2 {
				return nil, fmt.Errorf("%s: bad arguments", full)
			}
			return f.Call(*inner...)
		}), nil
	case "_codecs.encode":
		return callFunc(codecsEncode), nil
	case "numpy.dtype":
		return callFunc(func(args ...any) (any, error) {
			if len(args) < 1 {
				return nil, fmt.Errorf("numpy.dtype: no argument")
			}
			s, _ := args[0].(string)
			return &numpyDType{str: s, order: '<'}, nil
		}), nil
	case "numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar":
		return callFunc(numpyScalarOf), nil
	case "numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct":
		return callFunc(func(args ...any) (any, error) { return &inertObject{kind: "ndarray"}, nil }), nil
	case "builtins.set", "builtins.frozenset", "__builtin__.set", "__builtin__.frozenset":
		return callFunc(func(args ...any) (any, error) {
			l := types.NewList()
			if len(args) > 0 {
				if src, ok := args[0].(*types.List); ok {
					*l = append(*l, *src...)
				}
			}
			return l, nil
		}), nil
	case "builtins.slice", "__builtin__.slice":
		return callFunc(func(args ...any) (any, error) { return &inertObject{kind: "slice"}, nil }), nil
	case "builtins.complex", "__builtin__.complex":
		return callFunc(func(args ...any) (any, error) { return &inertObject{kind: "complex"}, nil }), nil
	case "torch._utils._rebuild_qtensor":
		return callFunc(func(args ...any) (any, error) {
			return &unsupportedTensor{reason: "quantized tensor" + storageNote(args)}, nil
		}), nil
	case "torch._utils._rebuild_sparse_tensor", "torch._utils._rebuild_sparse_csr_tensor":
		return callFunc(func(args ...any) (any, error) {
			layout := "sparse"
			if len(args) > 0 {
				if l, ok := args[0].(*inertObject); ok {
					layout = l.kind
				}
			}
			return &unsupportedTensor{reason: "sparse tensor (" + layout + ")"}, nil
		}), nil
	case "torch.serialization._get_layout":
		return callFunc(func(args ...any) (any, error) {
			if len(args) == 1 {
				if s, ok := args[0].(string); ok && len(s) < 40 {
					return &inertObject{kind: s}, nil
				}
			}
			return &inertObject{kind: "layout"}, nil
		}), nil
	case "torch.per_tensor_affine", "torch.per_channel_affine", "torch.per_tensor_symmetric",
		"torch.per_channel_symmetric", "torch.per_channel_affine_float_qparams",
		"torch.sparse_coo", "torch.sparse_csr", "torch.sparse_csc", "torch.sparse_bsr", "torch.sparse_bsc":
		return &inertObject{kind: full}, nil
	case "torch.Size":
		return callFunc(func(args ...any) (any, error) {
			if len(args) == 1 {
				return args[0], nil
			}
			return types.NewTupleFromSlice(args), nil
		}), nil
	}
	if module == "torch" {
		if dt, ok := storageTypes[name]; ok {
			return &storageType{dtype: dt, esize: int64(dt.Size()), class: name}, nil
		}
		if us, ok := unsupportedStorages[name]; ok {
			return &storageType{esize: us.esize, class: name, unsupported: fmt.Sprintf("%s tensor (torch.%s)", us.what, name)}, nil
		}
	}
	if u.strict {
		return nil, fmt.Errorf("refused global %s (strict mode)", full)
	}
	if !u.refused[full] {
		u.refused[full] = true
		u.warnings = append(u.warnings, "refused global "+full)
	}
	return &refusedClass{module: module, name: name}, nil
}

// persistentLoad resolves ("storage", StorageType, key, location, numel[,
// view_metadata]) to a storageRef, shared by every tensor that names the key.
func (u *unpickler) persistentLoad(pid any) (any, error) {
	t, ok := pid.(*types.Tuple)
	if !ok || t.Len() < 5 {
		return nil, fmt.Errorf("persistent id %s is not a storage tuple", brief(pid))
	}
	if tag, _ := t.Get(0).(string); tag != "storage" {
		return nil, fmt.Errorf("persistent id tag %s, want \"storage\"", brief(t.Get(0)))
	}
	st, ok := t.Get(1).(*storageType)
	if !ok {
		return nil, fmt.Errorf("persistent id storage type %s is not a torch storage class", brief(t.Get(1)))
	}
	key, ok := t.Get(2).(string)
	if !ok || key == "" || len(key) > 256 {
		return nil, fmt.Errorf("persistent id storage key %s is not a short string", brief(t.Get(2)))
	}
	numel, ok := asInt(t.Get(4))
	if !ok || numel < 0 {
		return nil, fmt.Errorf("storage %q: element count %s is not a non-negative integer", key, brief(t.Get(4)))
	}
	if t.Len() > 5 && t.Get(5) != nil {
		return nil, fmt.Errorf("storage %q: legacy storage views are not supported", key)
	}
	if s, ok := u.storages[key]; ok {
		if s.class != st.class || s.numel != numel {
			return nil, fmt.Errorf("storage %q is declared twice with different types or sizes", key)
		}
		return s, nil
	}
	s := &storageRef{key: key, dtype: st.dtype, esize: st.esize, numel: numel, class: st.class, unsupported: st.unsupported}
	u.storages[key] = s
	u.order = append(u.order, s)
	return s, nil
}

// rebuildTensor is torch._utils._rebuild_tensor_v2(storage, storage_offset,
// size, stride, ...): it checks the view fits its storage and records it.
func (u *unpickler) rebuildTensor(args ...any) (any, error) {
	if len(args) < 4 {
		return nil, fmt.Errorf("_rebuild_tensor_v2: %d arguments, want at least 4", len(args))
	}
	s, ok := args[0].(*storageRef)
	if !ok {
		return nil, fmt.Errorf("_rebuild_tensor_v2: first argument %s is not a storage", brief(args[0]))
	}
	off, ok := asInt(args[1])
	if !ok || off < 0 {
		return nil, fmt.Errorf("storage %q: storage offset %s is not a non-negative integer", s.key, brief(args[1]))
	}
	shape, err := intTuple(args[2])
	if err != nil {
		return nil, fmt.Errorf("storage %q: size: %w", s.key, err)
	}
	stride, err := intTuple(args[3])
	if err != nil {
		return nil, fmt.Errorf("storage %q: stride: %w", s.key, err)
	}
	if len(shape) != len(stride) {
		return nil, fmt.Errorf("storage %q: size %v and stride %v differ in length", s.key, shape, stride)
	}
	if len(shape) > 64 {
		return nil, fmt.Errorf("storage %q: %d dimensions", s.key, len(shape))
	}
	if _, ok := ckpt.Numel(shape); !ok {
		return nil, fmt.Errorf("storage %q: size %v is negative or overflows", s.key, shape)
	}
	if s.unsupported != "" {
		return &unsupportedTensor{reason: s.unsupported}, nil
	}
	end, ok := viewEnd(off, shape, stride)
	if !ok {
		return nil, fmt.Errorf("storage %q: view (offset %d, size %v, stride %v) has a negative stride or overflows", s.key, off, shape, stride)
	}
	if end > s.numel {
		return nil, fmt.Errorf("storage %q: view (offset %d, size %v, stride %v) reaches element %d of a %d-element storage", s.key, off, shape, stride, end, s.numel)
	}
	return &tensorRef{storage: s, offset: off, shape: shape, stride: stride}, nil
}

// viewEnd returns one past the largest storage element a view touches (off
// for an empty view), and false on negative strides or overflow.
func viewEnd(off int64, shape, stride []int64) (int64, bool) {
	last := off
	for i := range shape {
		if shape[i] == 0 {
			return off, true
		}
	}
	for i := range shape {
		reach, ok := ckpt.MulSize(shape[i]-1, stride[i])
		if !ok {
			return 0, false // a negative stride or an overflow
		}
		if last, ok = ckpt.AddSize(last, reach); !ok {
			return 0, false
		}
	}
	return ckpt.AddSize(last, 1)
}

// storageNote is " (torch.QInt8Storage)" for a rebuild call whose first
// argument is a storage, "" otherwise.
func storageNote(args []any) string {
	if len(args) > 0 {
		if s, ok := args[0].(*storageRef); ok {
			return " (torch." + s.class + ")"
		}
	}
	return ""
}

func codecsEncode(args ...any) (any, error) {
	if len(args) < 1 {
		return nil, fmt.Errorf("_codecs.encode: no argument")
	}
	s, ok := args[0].(string)
	if !ok {
		return nil, fmt.Errorf("_codecs.encode: argument is not a string")
	}
	enc := "utf-8"
	if len(args) > 1 {
		enc, _ = args[1].(string)
	}
	switch strings.ToLower(enc) {
	case "latin1", "latin-1", "iso-8859-1":
		out := make([]byte, 0, len(s))
		for _, r := range s {
			if r > 255 {
				return nil, fmt.Errorf("_codecs.encode: character %U is not latin-1", r)
			}
			out = append(out, byte(r))
		}
		return out, nil
	case "utf-8", "utf8":
		return []byte(s), nil
	}
	return nil, fmt.Errorf("_codecs.encode: unsupported encoding %q", enc)
}

// numpyScalarOf decodes numpy.core.multiarray.scalar(dtype, bytes).
func numpyScalarOf(args ...any) (any, error) {
	if len(args) < 2 {
		return &inertObject{kind: "numpy scalar"}, nil
	}
	d, ok := args[0].(*numpyDType)
	raw, ok2 := args[1].([]byte)
	if !ok || !ok2 {
		return &inertObject{kind: "numpy scalar"}, nil
	}
	var bo binary.ByteOrder = binary.LittleEndian
	if d.order == '>' {
		bo = binary.BigEndian
	}
	switch {
	case d.str == "f8" && len(raw) == 8:
		return &numpyScalar{math.Float64frombits(bo.Uint64(raw))}, nil
	case d.str == "f4" && len(raw) == 4:
		return &numpyScalar{float64(math.Float32frombits(bo.Uint32(raw)))}, nil
	case d.str == "i8" && len(raw) == 8:
		return &numpyScalar{int64(bo.Uint64(raw))}, nil
	case d.str == "i4" && len(raw) == 4:
		return &numpyScalar{int64(int32(bo.Uint32(raw)))}, nil
	case d.str == "u8" && len(raw) == 8:
		return &numpyScalar{bo.Uint64(raw)}, nil
	case d.str == "b1" && len(raw) == 1:
		return &numpyScalar{raw[0] != 0}, nil
	}
	return &inertObject{kind: "numpy " + d.str}, nil
}

func asInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int64:
		return x, true
	case *big.Int:
		if x.IsInt64() {
			return x.Int64(), true
		}
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

func intTuple(v any) ([]int64, error) {
	var items []any
	switch x := v.(type) {
	case *types.Tuple:
		items = *x
	case *types.List:
		items = *x
	default:
		return nil, fmt.Errorf("%s is not a tuple", brief(v))
	}
	out := make([]int64, len(items))
	for i, it := range items {
		n, ok := asInt(it)
		if !ok {
			return nil, fmt.Errorf("element %d (%s) is not an integer", i, brief(it))
		}
		out[i] = n
	}
	return out, nil
}

// brief renders a pickled value in a few characters for messages and leaf
// listings.
func brief(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case bool:
		if x {
			return "True"
		}
		return "False"
	case int, int64, uint64:
		return fmt.Sprint(x)
	case *big.Int:
		s := x.String()
		if len(s) > 40 {
			s = s[:37] + "..."
		}
		return s
	case float64:
		return formatFloat(x)
	case string:
		if len(x) > 60 {
			return fmt.Sprintf("%q...", x[:57])
		}
		return fmt.Sprintf("%q", x)
	case []byte:
		return fmt.Sprintf("<%d bytes>", len(x))
	case *numpyScalar:
		return brief(x.value)
	case *refusedObject:
		return "<refused " + x.class.module + "." + x.class.name + ">"
	case *refusedClass:
		return "<refused " + x.module + "." + x.name + ">"
	case *inertObject:
		return "<" + x.kind + ">"
	case *storageRef:
		return fmt.Sprintf("<storage %s>", x.key)
	case *storageType:
		if x.unsupported != "" {
			return "<torch." + x.class + " storage class>"
		}
		return "<" + x.dtype.TorchName() + " storage class>"
	case *types.Tuple:
		return seqBrief("(", ")", *x)
	case *types.List:
		return seqBrief("[", "]", *x)
	}
	return fmt.Sprintf("<%T>", v)
}

func seqBrief(open, close string, items []any) string {
	var parts []string
	for i, it := range items {
		if i == 8 {
			parts = append(parts, fmt.Sprintf("... (%d items)", len(items)))
			break
		}
		parts = append(parts, brief(it))
	}
	return open + strings.Join(parts, ", ") + close
}

func formatFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	return fmt.Sprintf("%g", f)
}

// sortedRefused returns the refused globals in a stable order.
func (u *unpickler) sortedRefused() []string {
	out := make([]string, 0, len(u.refused))
	for k := range u.refused {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
