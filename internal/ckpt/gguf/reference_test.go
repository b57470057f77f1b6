package gguf

import (
	"encoding/json"
	"math"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"

	parser "github.com/gpustack/gguf-parser-go"

	"github.com/glipctl/glipctl/internal/ckpt"
	"github.com/glipctl/glipctl/internal/oracle"
)

// referenceFile writes a file with every dtype, empty and 4-d tensors, a
// Q8_0 conversion, short names and metadata of every type; zeroD adds 0-d
// tensors (n_dims 0).
func referenceFile(t *testing.T, zeroD bool, align uint32) (string, *File) {
	t.Helper()
	var ts []*ckpt.Tensor
	for _, tt := range sampleTensors(t) {
		if len(tt.Shape) == 0 && !zeroD {
			continue
		}
		ts = append(ts, tt)
	}
	rng := rand.New(rand.NewSource(8))
	ts = append(ts,
		randTensor(t, rng, "backbone.stages.2.blocks.17.attn.w_msa.relative_position_bias_table", ckpt.F32, 529, 48),
		randTensor(t, rng, "backbone.stages.2.blocks.17.attn.w_msa.qkv.weight", ckpt.F32, 96, 32),
		randTensor(t, rng, "backbone.stages.2.blocks.17.attn.w_msa.relative_position_index", ckpt.I64, 144, 144),
	)
	kvs := append(sampleKVs(), KV{"t.nan", Float32(float32(math.NaN()))}, KV{"t.inf", Float64(math.Inf(-1))})
	path := filepath.Join(t.TempDir(), "ref.gguf")
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := Write(out, kvs, ts, WriteOptions{Alignment: align, ShortNames: true, Quantize: Q8Weights}); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Checkpoint.Close() })
	return path, f
}

// fromParser converts a gguf-parser-go metadata value to a Value.
func fromParser(t *testing.T, v any) Value {
	t.Helper()
	switch x := v.(type) {
	case uint8:
		return Uint8(x)
	case int8:
		return Int8(x)
	case uint16:
		return Uint16(x)
	case int16:
		return Int16(x)
	case uint32:
		return Uint32(x)
	case int32:
		return Int32(x)
	case float32:
		return Float32(x)
	case bool:
		return Bool(x)
	case string:
		return String(x)
	case uint64:
		return Uint64(x)
	case int64:
		return Int64(x)
	case float64:
		return Float64(x)
	case parser.GGUFMetadataKVArrayValue:
		items := make([]Value, len(x.Array))
		for i, it := range x.Array {
			items[i] = fromParser(t, it)
		}
		if uint64(len(items)) != x.Len {
			t.Fatalf("array of %d items has %d", x.Len, len(items))
		}
		return Array(Type(x.Type), items...)
	}
	t.Fatalf("unexpected parser value %T", v)
	return Value{}
}

// TestGGUFParserReadsOurs reads what Write writes with
// github.com/gpustack/gguf-parser-go.
func TestGGUFParserReadsOurs(t *testing.T) {
	for _, align := range []uint32{0, 64} {
		path, f := referenceFile(t, false, align)
		gf, err := parser.ParseGGUFFile(path)
		if err != nil {
			t.Fatalf("gguf-parser-go refused our file: %v", err)
		}
		if uint32(gf.Header.Version) != f.Version || gf.Header.TensorCount != uint64(len(f.Infos)) ||
			gf.Header.MetadataKVCount != uint64(len(f.KVs)) {
			t.Fatalf("parser header %+v", gf.Header)
		}
		if gf.TensorDataStartOffset != f.DataOffset {
			t.Errorf("parser data offset %d, ours %d", gf.TensorDataStartOffset, f.DataOffset)
		}
		if len(gf.Header.MetadataKV) != len(f.KVs) {
			t.Fatalf("parser has %d pairs, we wrote %d", len(gf.Header.MetadataKV), len(f.KVs))
		}
		for i, kv := range gf.Header.MetadataKV {
			want := f.KVs[i]
			got := fromParser(t, kv.Value)
			if kv.Key != want.Key || uint32(kv.ValueType) != uint32(want.Value.Type()) || !got.Equal(want.Value) {
				t.Errorf("pair %d: parser %s (%v) = %s, want %s (%s) = %s", i, kv.Key, kv.ValueType, got, want.Key, want.Value.Type(), want.Value)
			}
		}
		var total uint64
		for i, ti := range gf.TensorInfos {
			want := f.Infos[i]
			if ti.Name != want.Name || int(ti.NDimensions) != len(want.Dims) || !reflect.DeepEqual(ti.Dimensions, want.Dims) ||
				uint32(ti.Type) != uint32(want.Type) || ti.Offset != want.Offset {
				t.Errorf("tensor %d: parser %s %v %v @%d, want %s %v %v @%d", i, ti.Name, ti.Dimensions, ti.Type, ti.Offset,
					want.Name, want.Dims, want.Type, want.Offset)
			}
			if tt := f.Checkpoint.Tensors[i]; ti.Bytes() != uint64(tt.NBytes()) {
				t.Errorf("%s: parser size %d, ours %d", ti.Name, ti.Bytes(), tt.NBytes())
			}
			total += ti.Bytes()
		}
		if len(gf.TensorInfos) != len(f.Infos) || total == 0 {
			t.Fatalf("parser has %d tensors of %d bytes", len(gf.TensorInfos), total)
		}
	}
	// gguf-parser-go refuses n_dims 0, which ggml reads as one element and
	// writes for 0-d tensors; record what it says.
	path, _ := referenceFile(t, true, 0)
	if _, err := parser.ParseGGUFFile(path); err != nil {
		t.Logf("gguf-parser-go on 0-d tensors: %v", err)
	}
}

// jsonOf renders v as gguf_check.mjs prints it.
func jsonOf(v Value) any {
	switch v.Type() {
	case TypeUint64:
		u, _ := v.Uint()
		return strconv.FormatUint(u, 10)
	case TypeInt64:
		i, _ := v.Int()
		return strconv.FormatInt(i, 10)
	case TypeFloat32, TypeFloat64:
		f, _ := v.Float()
		switch {
		case math.IsNaN(f):
			return "NaN"
		case math.IsInf(f, 1):
			return "Infinity"
		case math.IsInf(f, -1):
			return "-Infinity"
		}
		return f
	case TypeBool:
		b, _ := v.Bool()
		return b
	case TypeString:
		s, _ := v.Str()
		return s
	case TypeArray:
		out := []any{}
		for _, it := range v.Items() {
			out = append(out, jsonOf(it))
		}
		return out
	}
	if u, ok := v.Uint(); ok {
		return float64(u)
	}
	i, _ := v.Int()
	return float64(i)
}

type nodeOutput struct {
	Version          int    `json:"version"`
	TensorCount      string `json:"tensor_count"`
	KVCount          string `json:"kv_count"`
	TensorDataOffset string `json:"tensor_data_offset"`
	Metadata         map[string]struct {
		Type    uint32 `json:"type"`
		SubType *int   `json:"sub_type"`
		Value   any    `json:"value"`
	} `json:"metadata"`
	TensorInfos []struct {
		Name      string   `json:"name"`
		Shape     []string `json:"shape"`
		DType     uint32   `json:"dtype"`
		DTypeName string   `json:"dtype_name"`
		Offset    string   `json:"offset"`
	} `json:"tensor_infos"`
}

// TestNodeReadsOurs reads what Write writes with npm's @huggingface/gguf
// through scripts/oracles/gguf_check.mjs.
func TestNodeReadsOurs(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed; install Node.js >= 20 and run `npm ci --prefix scripts` to check GGUF output with @huggingface/gguf")
	}
	if _, err := os.Stat(oracle.Script(t, "node_modules/@huggingface/gguf/package.json")); err != nil {
		t.Skip("scripts/node_modules/@huggingface/gguf is not installed; run `npm ci --prefix scripts` to check GGUF output with @huggingface/gguf")
	}
	for _, align := range []uint32{0, 64} {
		path, f := referenceFile(t, true, align)
		cmd := exec.Command(node, oracle.Script(t, "oracles/gguf_check.mjs"), path)
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("gguf_check.mjs: %v", err)
		}
		var got nodeOutput
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("gguf_check.mjs printed bad JSON: %v", err)
		}
		if got.Version != int(f.Version) || got.TensorCount != strconv.Itoa(len(f.Infos)) || got.KVCount != strconv.Itoa(len(f.KVs)) {
			t.Fatalf("node header: version %d, %s tensors, %s pairs", got.Version, got.TensorCount, got.KVCount)
		}
		if got.TensorDataOffset != strconv.FormatInt(f.DataOffset, 10) {
			t.Errorf("node data offset %s, ours %d", got.TensorDataOffset, f.DataOffset)
		}
		if len(got.Metadata) != len(f.KVs) {
			t.Errorf("node has %d pairs, we wrote %d", len(got.Metadata), len(f.KVs))
		}
		for _, kv := range f.KVs {
			m, ok := got.Metadata[kv.Key]
			if !ok {
				t.Errorf("node has no %q", kv.Key)
				continue
			}
			if m.Type != uint32(kv.Value.Type()) {
				t.Errorf("%s: node type %d, want %d", kv.Key, m.Type, kv.Value.Type())
			}
			if kv.Value.Type() == TypeArray && (m.SubType == nil || *m.SubType != int(kv.Value.Elem())) {
				t.Errorf("%s: node element type %v, want %d", kv.Key, m.SubType, kv.Value.Elem())
			}
			if want := jsonOf(kv.Value); !reflect.DeepEqual(m.Value, want) {
				t.Errorf("%s: node value %#v, want %#v", kv.Key, m.Value, want)
			}
		}
		if len(got.TensorInfos) != len(f.Infos) {
			t.Fatalf("node has %d tensors, we wrote %d", len(got.TensorInfos), len(f.Infos))
		}
		for i, ti := range got.TensorInfos {
			want := f.Infos[i]
			dims := make([]string, len(want.Dims))
			for j, d := range want.Dims {
				dims[j] = strconv.FormatUint(d, 10)
			}
			if ti.Name != want.Name || !reflect.DeepEqual(ti.Shape, dims) || ti.DType != uint32(want.Type) ||
				ti.DTypeName != want.Type.String() || ti.Offset != strconv.FormatUint(want.Offset, 10) {
				t.Errorf("tensor %d: node %+v, want %s %v %s @%d", i, ti, want.Name, dims, want.Type, want.Offset)
			}
		}
	}
}
