package pth

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/glipctl/glipctl/internal/ckpt"
	"github.com/glipctl/glipctl/internal/oracle"
	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/types"
)

// wrTorchScript saves a state dict covering the writer's cases with
// torch.save (the reference), and describes it (manifest.json, raw.bin) so
// the test can write the same tensors with Write.
const wrTorchScript = `
import collections, json, sys, torch
out, container = sys.argv[1], sys.argv[2]
g = torch.Generator().manual_seed(1234)
sd = collections.OrderedDict()
sd['patch_embed.proj.weight'] = torch.randn(8, 3, 4, 4, generator=g)
sd['a.half'] = torch.randn(3, 5, generator=g).half()
sd['a.bf16'] = torch.randn(7, generator=g).bfloat16()
sd['f64'] = torch.randn(2, 2, 2, 2, 2, generator=g).double()
sd['attn.relative_position_index'] = torch.arange(49 * 49).reshape(49, 49)
sd['i32'] = torch.arange(-5, 5, dtype=torch.int32)
sd['i16'] = torch.arange(-300, 300, 7, dtype=torch.int16)
sd['i8'] = torch.arange(-100, 100, 3, dtype=torch.int8)
sd['u8'] = torch.arange(0, 250, 5, dtype=torch.uint8)
sd['mask'] = torch.arange(10) % 3 == 0
sd['scalar'] = torch.tensor(1.5)
sd['empty'] = torch.zeros(0, 3)
sd['wide'] = torch.zeros(2, 0)
sd['numel_bigger_than_65535'] = torch.randn(70000, generator=g)
sd['big.shape'] = torch.randn(300, 300, generator=g).half()
sd['five.dims.and.more'] = torch.randn(1, 2, 1, 3, 1, 2, generator=g)
sd['ünïcode.名前'] = torch.ones(2, dtype=torch.float64)
for i in range(1010):
    sd['stages.%d.w' % i] = torch.full((1,), float(i))
obj = {container: sd} if container else sd
torch.save(obj, out + '/archive.pth')
man = []
with open(out + '/raw.bin', 'wb') as f:
    for k, v in sd.items():
        man.append({'name': k, 'dtype': str(v.dtype)[len('torch.'):], 'shape': list(v.shape)})
        f.write(v.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
with open(out + '/manifest.json', 'w') as f:
    json.dump(man, f)
`

// wrLoadManifest builds in-memory tensors from the script's description.
func wrLoadManifest(t *testing.T, dir string) []*ckpt.Tensor {
	t.Helper()
	var man []struct {
		Name  string  `json:"name"`
		DType string  `json:"dtype"`
		Shape []int64 `json:"shape"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &man); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "raw.bin"))
	if err != nil {
		t.Fatal(err)
	}
	var ts []*ckpt.Tensor
	off := int64(0)
	for _, m := range man {
		dt, err := ckpt.ParseDType(m.DType)
		if err != nil {
			t.Fatal(err)
		}
		shape := m.Shape
		if shape == nil {
			shape = []int64{}
		}
		n, _ := ckpt.Numel(shape)
		nb, _ := dt.Bytes(n)
		tt, err := ckpt.FromBytes(m.Name, dt, shape, raw[off:off+nb])
		if err != nil {
			t.Fatal(err)
		}
		off += nb
		ts = append(ts, tt)
	}
	if off != int64(len(raw)) {
		t.Fatalf("manifest covers %d of %d raw bytes", off, len(raw))
	}
	return ts
}

// TestWrByteIdenticalToTorchSave: Write gives the very bytes torch.save
// (torch 1.13) writes for the same OrderedDict, with and without a
// {"model": ...} container.
func TestWrByteIdenticalToTorchSave(t *testing.T) {
	oracle.Require(t, "torch")
	for _, container := range []string{"", "model"} {
		t.Run("container="+container, func(t *testing.T) {
			dir := t.TempDir()
			script := filepath.Join(dir, "ref.py")
			if err := os.WriteFile(script, []byte(wrTorchScript), 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(oracle.Python, script, dir, container).CombinedOutput(); err != nil {
				t.Fatalf("reference script: %v\n%s", err, out)
			}
			ts := wrLoadManifest(t, dir)
			var got bytes.Buffer
			if err := Write(&got, ts, WriteOptions{Container: container}); err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(filepath.Join(dir, "archive.pth"))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				i := 0
				for i < min(got.Len(), len(want)) && got.Bytes()[i] == want[i] {
					i++
				}
				t.Fatalf("output differs from torch.save's (%d vs %d bytes) first at byte %d", got.Len(), len(want), i)
			}
		})
	}
}

// wrRebuild records the arguments of torch._utils._rebuild_tensor_v2.
type wrRebuild struct{}

type wrRebuilt struct {
	pid    *types.Tuple
	offset int
	size   *types.Tuple
	stride *types.Tuple
	grad   bool
}

func (wrRebuild) Call(args ...any) (any, error) {
	if len(args) != 6 {
		return nil, fmt.Errorf("_rebuild_tensor_v2 with %d args", len(args))
	}
	r := &wrRebuilt{}
	var ok bool
	if r.pid, ok = args[0].(*types.Tuple); !ok {
		return nil, fmt.Errorf("storage is %T", args[0])
	}
	r.offset, _ = args[1].(int)
	r.size, _ = args[2].(*types.Tuple)
	r.stride, _ = args[3].(*types.Tuple)
	r.grad, _ = args[4].(bool)
	return r, nil
}

// TestWrStructure reads Write's output with independent readers (Go's
// archive/zip, which checks every CRC, and gopickle), without torch.
func TestWrStructure(t *testing.T) {
	var ts []*ckpt.Tensor
	want := map[string][]byte{}
	for i := 0; i < 300; i++ { // > 256 memo entries: LONG_BINPUT
		vals := make([]float32, 1+i%7)
		for j := range vals {
			vals[j] = float32(i) + float32(j)/8
		}
		tt, err := ckpt.FromFloat32(fmt.Sprintf("backbone.stages.%d.w", i), []int64{int64(len(vals))}, vals)
		if err != nil {
			t.Fatal(err)
		}
		ts = append(ts, tt)
	}
	idx := make([]byte, 8*9)
	for i := 0; i < 9; i++ {
		binary.LittleEndian.PutUint64(idx[8*i:], uint64(i*i))
	}
	ti, _ := ckpt.FromBytes("idx", ckpt.I64, []int64{3, 3}, idx)
	ts = append(ts, ti)
	big := make([]float32, 3*wrChunkBytes/4+5) // several chunks
	for i := range big {
		big[i] = float32(math.Sin(float64(i)))
	}
	tb, _ := ckpt.FromFloat32("big", []int64{int64(len(big))}, big)
	ts = append(ts, tb)
	for i, tt := range ts {
		b, _ := tt.ReadAll()
		want[fmt.Sprint(i)] = b
	}

	var out bytes.Buffer
	if err := Write(&out, ts, WriteOptions{Container: "model"}); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(out.Bytes()), int64(out.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(zr.File); n != len(ts)+2 {
		t.Fatalf("%d records, want %d", n, len(ts)+2)
	}
	var pkl []byte
	for _, f := range zr.File {
		if f.Method != zip.Store {
			t.Errorf("%s: method %d, want stored", f.Name, f.Method)
		}
		off, err := f.DataOffset()
		if err != nil {
			t.Fatal(err)
		}
		if off%64 != 0 {
			t.Errorf("%s: data at %d, not 64-byte aligned", f.Name, off)
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if _, err := b.ReadFrom(rc); err != nil { // checks the CRC
			t.Fatalf("%s: %v", f.Name, err)
		}
		rc.Close()
		switch {
		case f.Name == "archive/data.pkl":
			pkl = b.Bytes()
		case f.Name == "archive/version":
			if b.String() != "3\n" {
				t.Errorf("version %q", b.String())
			}
		case strings.HasPrefix(f.Name, "archive/data/"):
			k := strings.TrimPrefix(f.Name, "archive/data/")
			if !bytes.Equal(b.Bytes(), want[k]) {
				t.Errorf("%s: bytes differ", f.Name)
			}
		default:
			t.Errorf("unexpected record %s", f.Name)
		}
	}

	u := pickle.NewUnpickler(bytes.NewReader(pkl))
	u.FindClass = func(module, name string) (any, error) {
		switch module + "." + name {
		case "torch._utils._rebuild_tensor_v2":
			return wrRebuild{}, nil
		case "torch.FloatStorage", "torch.LongStorage":
			return name, nil
		}
		return nil, fmt.Errorf("unexpected global %s.%s", module, name)
	}
	u.PersistentLoad = func(pid any) (any, error) { return pid, nil }
	obj, err := u.Load()
	if err != nil {
		t.Fatal(err)
	}
	top, ok := obj.(*types.Dict)
	if !ok || top.Len() != 1 {
		t.Fatalf("top level is %T, want a dict with one key", obj)
	}
	sd, ok := top.MustGet("model").(*types.OrderedDict)
	if !ok {
		t.Fatalf("model is %T", top.MustGet("model"))
	}
	if sd.Len() != len(ts) {
		t.Fatalf("%d entries, want %d", sd.Len(), len(ts))
	}
	i := 0
	for e := sd.List.Front(); e != nil; e = e.Next() {
		entry := e.Value.(*types.OrderedDictEntry)
		tt := ts[i]
		if entry.Key != tt.Name {
			t.Fatalf("entry %d is %v, want %s", i, entry.Key, tt.Name)
		}
		r := entry.Value.(*wrRebuilt)
		wantClass := map[ckpt.DType]string{ckpt.F32: "FloatStorage", ckpt.I64: "LongStorage"}[tt.DType]
		if r.pid.Len() != 5 || r.pid.Get(0) != "storage" || r.pid.Get(1) != wantClass || r.pid.Get(2) != fmt.Sprint(i) || r.pid.Get(3) != "cpu" || r.pid.Get(4) != int(tt.Numel()) {
			t.Errorf("%s: persistent id %v", tt.Name, r.pid)
		}
		if r.offset != 0 || r.grad || r.size.Len() != len(tt.Shape) {
			t.Errorf("%s: offset %d grad %v size %v", tt.Name, r.offset, r.grad, r.size)
		}
		for d := range tt.Shape {
			if r.size.Get(d) != int(tt.Shape[d]) {
				t.Errorf("%s: size %v, want %v", tt.Name, r.size, tt.Shape)
			}
		}
		i++
	}
}

func TestWrContiguousStrides(t *testing.T) {
	for _, c := range []struct{ shape, want []int64 }{
		{[]int64{}, []int64{}},
		{[]int64{5}, []int64{1}},
		{[]int64{2, 3, 4}, []int64{12, 4, 1}},
		{[]int64{0, 3}, []int64{3, 1}},
		{[]int64{2, 0}, []int64{1, 1}},
	} {
		got := wrContiguousStrides(c.shape)
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("strides of %v = %v, want %v", c.shape, got, c.want)
		}
	}
}

type wrFailingReader struct{}

func (wrFailingReader) ReadAt(p []byte, off int64) (int, error) {
	return 0, errors.New("disk on fire")
}

func TestWrErrors(t *testing.T) {
	ok, _ := ckpt.FromFloat32("a", []int64{2}, []float32{1, 2})
	dup, _ := ckpt.FromFloat32("a", []int64{1}, []float32{3})
	q8 := &ckpt.Tensor{Name: "q", DType: ckpt.Q8_0, Shape: []int64{32}, Data: bytes.NewReader(make([]byte, 34))}
	bad := &ckpt.Tensor{Name: "bad", DType: ckpt.F32, Shape: []int64{4}, Data: wrFailingReader{}}
	short := &ckpt.Tensor{Name: "short", DType: ckpt.F32, Shape: []int64{4}, Data: bytes.NewReader(make([]byte, 8))}
	nodata := &ckpt.Tensor{Name: "nodata", DType: ckpt.F32, Shape: []int64{4}}
	badname := &ckpt.Tensor{Name: "\xff", DType: ckpt.F32, Shape: []int64{1}, Data: bytes.NewReader(make([]byte, 4))}
	for _, c := range []struct {
		name string
		ts   []*ckpt.Tensor
		opts WriteOptions
		want string
	}{
		{"duplicate", []*ckpt.Tensor{ok, dup}, WriteOptions{}, `"a" appears twice`},
		{"q8", []*ckpt.Tensor{q8}, WriteOptions{}, "no storage for dtype Q8_0"},
		{"read error", []*ckpt.Tensor{ok, bad}, WriteOptions{}, "disk on fire"},
		{"short data", []*ckpt.Tensor{short}, WriteOptions{}, "short"},
		{"no data", []*ckpt.Tensor{nodata}, WriteOptions{}, "no data"},
		{"bad name", []*ckpt.Tensor{badname}, WriteOptions{}, "not valid UTF-8"},
		{"bad archive", []*ckpt.Tensor{ok}, WriteOptions{Archive: "a/b"}, "invalid archive name"},
	} {
		var b bytes.Buffer
		err := Write(&b, c.ts, c.opts)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}

// TestWrDeterministic: the same tensors give the same bytes.
func TestWrDeterministic(t *testing.T) {
	mk := func() []byte {
		a, _ := ckpt.FromFloat32("x", []int64{2, 2}, []float32{1, 2, 3, 4})
		var b bytes.Buffer
		if err := Write(&b, []*ckpt.Tensor{a}, WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	if !bytes.Equal(mk(), mk()) {
		t.Fatal("two writes differ")
	}
}
