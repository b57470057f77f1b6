package convert

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	parser "github.com/gpustack/gguf-parser-go"
	refst "github.com/nlpodyssey/safetensors"

	"github.com/glipctl/glipctl/internal/ckpt"
	"github.com/glipctl/glipctl/internal/ckpt/ckpttest"
	"github.com/glipctl/glipctl/internal/ckpt/gguf"
	"github.com/glipctl/glipctl/internal/ckpt/pth"
	"github.com/glipctl/glipctl/internal/ckpt/safetensors"
	"github.com/glipctl/glipctl/internal/digest"
	"github.com/glipctl/glipctl/internal/glip"
	"github.com/glipctl/glipctl/internal/oracle"
	"github.com/glipctl/glipctl/internal/stats"
)

// TestFixtureMatchesMMPretrain converts the official fixture and compares
// the result with mmpretrain_small.pth, which scripts/fixtures/make_fixtures.py made
// from the same weights with torch and scripts/oracles/glip_remap.py (mmpretrain's
// converter rules): same names, order, dtypes, shapes and bytes. The
// legacy-format fixture converts to the same tensors.
func TestFixtureMatchesMMPretrain(t *testing.T) {
	want := stateOf(t, fixture(t, "mmpretrain_small.pth"))
	for _, src := range []string{"official_small.pth", "official_small_legacy.pth"} {
		dst := filepath.Join(t.TempDir(), "mm.pth")
		rep, err := ConvertFile(context.Background(), fixture(t, src), dst, FileOptions{Options: Options{Version: "test"}})
		if err != nil {
			t.Fatal(err)
		}
		ckpttest.SameTensors(t, src, stateOf(t, dst), want)
		if rep.Layout.Detected != glip.LayoutOfficial || rep.Layout.Output != glip.LayoutMMPretrain {
			t.Errorf("%s: layout %+v", src, rep.Layout)
		}
	}
}

// expectedJSON is the part of testdata/expected/*.json (torch-computed) the
// tests use.
type expectedJSON struct {
	Tensors []struct {
		Name  string `json:"name"`
		Stats struct {
			Min, Max, Mean, Std, AbsMax stats.Number
			Zeros, NaN, Inf             int64
		} `json:"stats"`
		SHA256 string `json:"sha256"`
	} `json:"tensors"`
}

// TestReportStatsMatchTorch: the report's per-tensor statistics of the
// official fixture's conversion equal torch's statistics of
// mmpretrain_small.pth (testdata/expected/mmpretrain_small.json).
func TestReportStatsMatchTorch(t *testing.T) {
	var exp expectedJSON
	b, err := os.ReadFile(ckpttest.Fixture(t, "expected", "mmpretrain_small.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &exp); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "mm.safetensors")
	rep, err := ConvertFile(context.Background(), fixture(t, "official_small.pth"), dst, FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Tensors) != len(exp.Tensors) {
		t.Fatalf("%d tensors reported, torch has %d", len(rep.Tensors), len(exp.Tensors))
	}
	near := func(a, b stats.Number) bool {
		if !a.Finite() || !b.Finite() {
			return !a.Finite() && !b.Finite()
		}
		return math.Abs(float64(a-b)) <= 1e-9*math.Max(1, math.Abs(float64(b)))
	}
	for i, tr := range rep.Tensors {
		e := exp.Tensors[i]
		if "state_dict/"+tr.To != e.Name {
			t.Fatalf("tensor %d: %s, torch has %s", i, tr.To, e.Name)
		}
		s, w := tr.Stats, e.Stats
		if !near(s.Min, w.Min) || !near(s.Max, w.Max) || !near(s.Mean, w.Mean) || !near(s.Std, w.Std) || !near(s.AbsMax, w.AbsMax) ||
			s.Zeros != w.Zeros || s.NaN != w.NaN || s.Inf != w.Inf {
			t.Errorf("%s: stats %+v, torch %+v", tr.To, *s, w)
		}
	}
	// The JSON report on disk says the same.
	jp, _ := ReportPaths(dst, "")
	var onDisk Report
	b, err = os.ReadFile(jp)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &struct {
		Tensors *[]TensorReport `json:"tensors"`
	}{&onDisk.Tensors}); err != nil {
		t.Fatal(err)
	}
	if len(onDisk.Tensors) != len(rep.Tensors) || onDisk.Tensors[5].To != rep.Tensors[5].To {
		t.Errorf("report on disk differs from the returned one")
	}
}

// TestRoundTrip: official -> mmpretrain -> official is bit-exact (names,
// order, dtypes, bytes), for f32, f16, bf16 and f64 sources, and so is
// mmpretrain -> official -> mmpretrain.
func TestRoundTrip(t *testing.T) {
	for _, dt := range []ckpt.DType{ckpt.F32, ckpt.F16, ckpt.BF16, ckpt.F64} {
		c := officialCheckpoint(t, tiny, dt, 7, true)
		mm, _ := convertMem(t, c, Options{Format: FormatPTH})
		mmPath := writeFile(t, "mm.pth", mm)
		back, rep := convertMem(t, open(t, mmPath), Options{Format: FormatPTH, Layout: glip.LayoutOfficial})
		backPath := writeFile(t, "back.pth", back)
		var want []*ckpt.Tensor
		for _, tt := range c.Tensors {
			if strings.HasPrefix(tt.Name, "model/module.backbone.body.") {
				want = append(want, tt)
			}
		}
		ckpttest.SameTensors(t, "official->mm->official "+dt.String(), open(t, backPath).Tensors, want)
		if rep.Layout.From != glip.LayoutMMPretrain || rep.Layout.Output != glip.LayoutOfficial {
			t.Errorf("layout %+v", rep.Layout)
		}
		again, _ := convertMem(t, open(t, backPath), Options{Format: FormatPTH})
		if !bytes.Equal(again, mm) {
			t.Errorf("%s: mmpretrain -> official -> mmpretrain is not byte-identical", dt)
		}
	}
}

// TestTransformsAndDropped: the report names every kept tensor's transform
// and summarises the dropped ones by prefix; dropped tensors are never
// read (their data is poisoned).
func TestTransformsAndDropped(t *testing.T) {
	c := officialCheckpoint(t, tiny, ckpt.F32, 3, true)
	_, rep := convertMem(t, c, Options{Format: FormatPTH})
	counts := map[glip.Transform]int{}
	for _, tr := range rep.Tensors {
		counts[tr.Transform]++
		reordered := strings.Contains(tr.To, "downsample.reduction") || strings.Contains(tr.To, "downsample.norm")
		if reordered != (tr.Transform == glip.Reordered) {
			t.Errorf("%s: transform %s", tr.To, tr.Transform)
		}
	}
	if counts[glip.Reordered] != 6 || counts[glip.Kept] != 0 || counts[glip.Renamed] != len(rep.Tensors)-6 {
		t.Errorf("transforms %v", counts)
	}
	want := []droppedGroup{
		{"optimizer", 1, 32 * 3 * 4 * 4 * 4},
		{"model/module.backbone.fpn", 2, (16*64 + 16) * 4},
		{"model/module.language_backbone", 1, 50 * 16 * 4},
		{"model/module.rpn", 1, 4 * 16 * 9 * 4},
	}
	if !reflect.DeepEqual(rep.Dropped, want) {
		t.Errorf("dropped %+v, want %+v", rep.Dropped, want)
	}
	if rep.Totals.Dropped != 5 || rep.Totals.Kept != len(rep.Tensors) {
		t.Errorf("totals %+v", rep.Totals)
	}
	if rep.ConversionError != nil {
		t.Errorf("keep has a conversion error section")
	}
}

// TestStatsAgreeWithReportPackage: the statistics accumulated while
// writing equal stats.TensorStats over the written tensors (in one pass:
// no writer needs the fallback), also when a reader reads out of order
// (the fallback pass).
func TestStatsAgreeWithReportPackage(t *testing.T) {
	c := officialCheckpoint(t, tiny, ckpt.F32, 5, false)
	before := fallbackPasses.Load()
	for _, f := range []Format{FormatPTH, FormatGGUF} {
		for _, mode := range []DTypeMode{Keep, ToF16, ToBF16, ToQ8_0} {
			if mode != ToQ8_0 || f == FormatGGUF {
				convertMem(t, c, Options{Format: f, DType: mode})
			}
		}
	}
	for _, mode := range []DTypeMode{Keep, ToF16, ToBF16} {
		out, rep := convertMem(t, c, Options{Format: FormatSafetensors, DType: mode})
		st, err := safetensors.Read(bytes.NewReader(out), int64(len(out)), "out")
		if err != nil {
			t.Fatal(err)
		}
		want, err := stats.TensorStats(context.Background(), st.Tensors)
		if err != nil {
			t.Fatal(err)
		}
		for i, tr := range rep.Tensors {
			if !statsNear(tr.Stats, want[i].JSON()) {
				t.Errorf("%s %s: stats %s, stats.TensorStats %s", mode, tr.To, statsString(tr.Stats), statsString(want[i].JSON()))
			}
		}
	}
	// A reordered tensor whose rows straddle the writers' chunks.
	big := randTensor(t, rand.New(rand.NewPCG(9, 9)), "module.backbone.body.layers.2.downsample.reduction.weight", ckpt.F32, 1, 700, 1500)
	for _, mode := range []DTypeMode{Keep, ToBF16} {
		o := &Output{From: big.Name, To: "x", Src: big, Reorder: true, DType: outputDType(mode, "x.weight", ckpt.F32, big.Shape)}
		d, err := newOutData(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		tt := d.tensor()
		buf := make([]byte, 1<<20)
		for _, c := range tt.Chunks(1 << 20) {
			if err := tt.ReadChunk(c, buf[:c.Len]); err != nil {
				t.Fatal(err)
			}
		}
		if d.done != d.units {
			t.Errorf("%s: chunked reads accounted %d of %d rows", mode, d.done, d.units)
		}
	}
	if n := fallbackPasses.Load() - before; n != 0 {
		t.Errorf("writers needed %d fallback statistics passes", n)
	}
	// Out of order: read the last chunk first.
	plan, err := NewPlan(c, PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	o := plan.Outputs[len(plan.Outputs)-9] // a reordered norm? any tensor will do
	d, err := newOutData(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, d.size())
	half := d.size() / 2
	if _, err := d.ReadAt(buf[half:], half); err != nil {
		t.Fatal(err)
	}
	if _, err := d.ReadAt(buf[:half], 0); err != nil {
		t.Fatal(err)
	}
	if err := d.complete(); err != nil {
		t.Fatal(err)
	}
	tt, _ := ckpt.FromBytes(o.To, o.DType, o.Shape(), buf)
	want, _ := stats.TensorStats(context.Background(), []*ckpt.Tensor{tt})
	if !statsNear(d.st.Stats().JSON(), want[0].JSON()) {
		t.Errorf("out-of-order stats %s, want %s", statsString(d.st.Stats().JSON()), statsString(want[0].JSON()))
	}
}

// statsNear compares statistics to 1e-12 relative (chunked accumulation
// differs in the last bits); counts exactly.
func statsNear(a, b *stats.JSON) bool {
	near := func(x, y stats.Number) bool {
		if !x.Finite() || !y.Finite() {
			return !x.Finite() && !y.Finite()
		}
		return math.Abs(float64(x-y)) <= 1e-12*math.Max(1e-30, math.Max(math.Abs(float64(x)), math.Abs(float64(y))))+1e-300
	}
	return near(a.Min, b.Min) && near(a.Max, b.Max) && near(a.Mean, b.Mean) && near(a.Std, b.Std) &&
		near(a.AbsMax, b.AbsMax) && a.Zeros == b.Zeros && a.NaN == b.NaN && a.Inf == b.Inf
}

func statsString(s *stats.JSON) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestRoundingMatchesTorch compares F16Bits and BF16Bits with torch's
// .half() and .bfloat16() on random, tie, subnormal, overflow and special
// float32 values.
func TestRoundingMatchesTorch(t *testing.T) {
	oracle.Require(t, "torch")
	script := `
import struct, sys, torch
g = torch.Generator().manual_seed(0)
bits = torch.randint(-2**31, 2**31 - 1, (20000,), generator=g, dtype=torch.int64)
vals = list(bits.to(torch.int32).view(torch.float32).tolist())
vals += [0.0, -0.0, 1.0, -1.0, 65504.0, 65519.99, 65520.0, 1e6, -1e6, 6e-8, 3e-8, 2.98e-8, 1e-45,
         float('inf'), float('-inf'), 3.4e38, 1.0000001, 1.00048828125, 1.0009765625, 1.00146484375,
         1.00390625, 1.005859375, 2**-24, 2**-25, 3 * 2**-26, 2**-14, 2**-14 - 2**-24]
vals += [x * s for x in torch.randn(2000, generator=g).tolist() for s in (1e-6, 1.0, 1e4)]
x = torch.tensor(vals, dtype=torch.float32)
xs = x[~torch.isnan(x)]
sys.stdout.buffer.write(struct.pack('<I', xs.numel()))
sys.stdout.buffer.write(xs.numpy().tobytes())
sys.stdout.buffer.write(xs.half().view(torch.int16).numpy().tobytes())
sys.stdout.buffer.write(xs.bfloat16().view(torch.int16).numpy().tobytes())
nan = torch.tensor([float('nan'), -float('nan')], dtype=torch.float32)
sys.stdout.buffer.write(nan.half().view(torch.int16).numpy().tobytes())
sys.stdout.buffer.write(nan.bfloat16().view(torch.int16).numpy().tobytes())
`
	out, err := exec.Command(oracle.Python, "-c", script).Output()
	if err != nil {
		t.Fatalf("torch reference: %v", err)
	}
	le := binary.LittleEndian
	n := int(le.Uint32(out))
	x, h, b := out[4:4+4*n], out[4+4*n:4+6*n], out[4+6*n:4+8*n]
	bad := 0
	for i := 0; i < n; i++ {
		f := math.Float32frombits(le.Uint32(x[4*i:]))
		if got, want := F16Bits(f), le.Uint16(h[2*i:]); got != want && bad < 10 {
			bad++
			t.Errorf("F16Bits(%g) = %#04x, torch %#04x", f, got, want)
		}
		if got, want := BF16Bits(f), le.Uint16(b[2*i:]); got != want && bad < 10 {
			bad++
			t.Errorf("BF16Bits(%g) = %#04x, torch %#04x", f, got, want)
		}
	}
	// NaNs: torch gives a quiet NaN; the payload may differ, NaN-ness may not.
	rest := out[4+8*n:]
	for i, nan := range []float32{float32(math.NaN()), -float32(math.NaN())} {
		if h := le.Uint16(rest[2*i:]); h&0x7c00 != 0x7c00 || h&0x3ff == 0 || F16Bits(nan)&0x7c00 != 0x7c00 || F16Bits(nan)&0x3ff == 0 {
			t.Errorf("f16 NaN: torch %#04x, ours %#04x", h, F16Bits(nan))
		}
		if bb := le.Uint16(rest[4+2*i:]); bb&0x7f80 != 0x7f80 || bb&0x7f == 0 || BF16Bits(nan)&0x7f80 != 0x7f80 || BF16Bits(nan)&0x7f == 0 {
			t.Errorf("bf16 NaN: torch %#04x, ours %#04x", bb, BF16Bits(nan))
		}
	}
}

// TestSafetensorsReadBack reads the safetensors outputs with
// github.com/nlpodyssey/safetensors and with glipctl's reader: f32 bytes as
// the mmpretrain fixture's, f16/bf16 within half an ulp of them, and the
// metadata.
func TestSafetensorsReadBack(t *testing.T) {
	want := stateOf(t, fixture(t, "mmpretrain_small.pth"))
	src := fixture(t, "official_small.pth")
	srcBytes, _ := os.ReadFile(src)
	for _, mode := range []DTypeMode{Keep, ToF16, ToBF16} {
		dst := filepath.Join(t.TempDir(), "mm.safetensors")
		if _, err := ConvertFile(context.Background(), src, dst, FileOptions{Options: Options{DType: mode, Version: "v-test"}}); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(dst)
		if err != nil {
			t.Fatal(err)
		}
		st, err := refst.Deserialize(b)
		if err != nil {
			t.Fatalf("nlpodyssey/safetensors refused the output: %v", err)
		}
		_, meta, err := refst.ReadMetadata(b)
		if err != nil {
			t.Fatal(err)
		}
		m := meta.Metadata()
		var arch map[string]any
		if err := json.Unmarshal([]byte(m["arch"]), &arch); err != nil {
			t.Fatalf("arch metadata %q: %v", m["arch"], err)
		}
		if m["format"] != "pt" || m["source_sha256"] != sha256hex(srcBytes) || m["source_file"] != "official_small.pth" ||
			m["layout"] != "mmpretrain" || m["glipctl_version"] != "v-test" || m["dtype"] != string(mode) ||
			arch["embed_dim"] != 8.0 || !reflect.DeepEqual(arch["depths"], []any{2.0, 2.0, 2.0, 2.0}) ||
			!reflect.DeepEqual(arch["heads"], []any{1.0, 2.0, 4.0, 8.0}) || arch["window"] != 7.0 ||
			m["preprocess"] != `{"mean":[103.53,116.28,123.675],"std":[57.375,57.12,58.395],"bgr":true}` {
			t.Errorf("%s: metadata %v", mode, m)
		}
		ours := open(t, dst)
		if st.Len() != len(want) || len(ours.Tensors) != len(want) {
			t.Fatalf("%s: %d / %d tensors, want %d", mode, st.Len(), len(ours.Tensors), len(want))
		}
		for i, w := range want {
			v, ok := st.Tensor(w.Name)
			if !ok || ours.Tensors[i].Name != w.Name {
				t.Fatalf("%s: no tensor %s", mode, w.Name)
			}
			if !bytes.Equal(v.Data(), readAll(t, ours.Tensors[i])) {
				t.Errorf("%s: %s: the two readers disagree", mode, w.Name)
			}
			wantDT := outputDType(mode, w.Name, w.DType, w.Shape)
			if ours.Tensors[i].DType != wantDT || v.DType().String() != wantDT.String() {
				t.Errorf("%s: %s: dtype %s / %s, want %s", mode, w.Name, ours.Tensors[i].DType, v.DType(), wantDT)
			}
			checkRounded(t, string(mode)+": "+w.Name, ours.Tensors[i], w)
		}
	}
}

// checkRounded checks got against want: exact when the dtypes agree, else
// within half an ulp of got's dtype (relative 2^-11 for f16, 2^-8 for bf16,
// over normal numbers).
func checkRounded(t *testing.T, what string, got, want *ckpt.Tensor) {
	t.Helper()
	g, err := got.Float64()
	if err != nil {
		t.Fatal(err)
	}
	w, err := want.Float64()
	if err != nil {
		t.Fatal(err)
	}
	rel := map[ckpt.DType]float64{ckpt.F32: 0, ckpt.F16: 1.0 / 2048, ckpt.BF16: 1.0 / 256}[got.DType]
	if got.DType == want.DType || !want.DType.IsFloat() {
		if !bytes.Equal(readAll(t, got), readAll(t, want)) {
			t.Errorf("%s: values differ", what)
		}
		return
	}
	for i := range w {
		if d := math.Abs(g[i] - w[i]); d > rel*math.Abs(w[i])+1e-7 {
			t.Errorf("%s[%d]: %g vs %g: beyond %s rounding", what, i, g[i], w[i], got.DType)
			return
		}
	}
}

// TestGGUFReadBack reads the GGUF outputs with github.com/gpustack/gguf-parser-go
// (header, metadata, tensor infos) and glipctl's reader (values): short-v1
// names, dims innermost first, f32 exact, f16 within rounding, Q8_0 within
// the block error, and the typed metadata.
func TestGGUFReadBack(t *testing.T) {
	want := stateOf(t, fixture(t, "mmpretrain_small.pth"))
	src := fixture(t, "official_small.pth")
	for _, mode := range []DTypeMode{Keep, ToF16, ToQ8_0} {
		dst := filepath.Join(t.TempDir(), "mm.gguf")
		rep, err := ConvertFile(context.Background(), src, dst, FileOptions{Options: Options{DType: mode}})
		if err != nil {
			t.Fatal(err)
		}
		gf, err := parser.ParseGGUFFile(dst)
		if err != nil {
			t.Fatalf("gguf-parser-go refused the output: %v", err)
		}
		kv := gf.Header.MetadataKV
		get := func(k string) parser.GGUFMetadataKV {
			v, ok := kv.Get(k)
			if !ok {
				t.Fatalf("%s: no metadata %s", mode, k)
			}
			return v
		}
		if gf.Header.Version != parser.GGUFVersionV3 || get("general.architecture").ValueString() != "swin" ||
			get("general.alignment").ValueUint32() != 32 || get("swin.embed_dim").ValueUint32() != 8 ||
			!reflect.DeepEqual(get("swin.depths").ValueArray().ValuesUint32(), []uint32{2, 2, 2, 2}) ||
			!reflect.DeepEqual(get("swin.num_heads").ValueArray().ValuesUint32(), []uint32{1, 2, 4, 8}) ||
			get("swin.window_size").ValueUint32() != 7 || !get("swin.image_bgr").ValueBool() ||
			!reflect.DeepEqual(get("swin.image_mean").ValueArray().ValuesFloat32(), []float32{103.53, 116.28, 123.675}) ||
			!reflect.DeepEqual(get("swin.image_std").ValueArray().ValuesFloat32(), []float32{57.375, 57.12, 58.395}) ||
			get("glipctl.source_sha256").ValueString() != rep.Source.SHA256 || get("glipctl.naming").ValueString() != gguf.NamingShortV1 {
			t.Errorf("%s: metadata %v", mode, kv)
		}
		if len(gf.TensorInfos) != len(want) {
			t.Fatalf("%s: %d tensors, want %d", mode, len(gf.TensorInfos), len(want))
		}
		ours := open(t, dst)
		for i, w := range want {
			ti := gf.TensorInfos[i]
			dims := make([]uint64, len(w.Shape))
			for j, d := range w.Shape {
				dims[len(w.Shape)-1-j] = uint64(d)
			}
			if ti.Name != gguf.ShortName(w.Name) || len(ti.Name) > 63 || !reflect.DeepEqual(ti.Dimensions, dims) {
				t.Errorf("%s: tensor %d: %s %v, want %s %v", mode, i, ti.Name, ti.Dimensions, gguf.ShortName(w.Name), dims)
			}
			g := ours.Tensors[i]
			if g.Name != w.Name {
				t.Fatalf("%s: tensor %d read back as %s, want %s", mode, i, g.Name, w.Name)
			}
			wantDT := outputDType(mode, w.Name, w.DType, w.Shape)
			if g.DType != wantDT || ti.Type.String() != wantDT.String() {
				t.Errorf("%s: %s: dtype %s (parser %s), want %s", mode, w.Name, g.DType, ti.Type, wantDT)
			}
			if g.DType == ckpt.Q8_0 {
				checkQ8(t, string(mode)+": "+w.Name, g, w)
				continue
			}
			checkRounded(t, string(mode)+": "+w.Name, g, w)
		}
		if mode == ToQ8_0 {
			e := rep.ConversionError
			if e == nil || !e.Lossy || e.Worst[0].DType != "Q8_0" || float64(e.MaxRelRMS) > 0.02 || float64(e.MaxRelRMS) <= 0 {
				t.Errorf("q8_0 conversion error %+v", e)
			}
		}
	}
}

// checkQ8 checks a Q8_0 tensor against its source: each value within the
// block's error, d/2 + 127*|d - f16(d)| with d = absmax/127.
func checkQ8(t *testing.T, what string, got, want *ckpt.Tensor) {
	t.Helper()
	g, _ := got.Float64()
	w, _ := want.Float64()
	for b := 0; b < len(w)/32; b++ {
		amax := 0.0
		for _, v := range w[b*32 : b*32+32] {
			amax = math.Max(amax, math.Abs(float64(float32(v))))
		}
		d := float64(float32(amax) / 127)
		d16, _ := ckpt.FromBytes("d", ckpt.F16, []int64{1}, binary.LittleEndian.AppendUint16(nil, F16Bits(float32(d))))
		dd, _ := d16.Float64()
		bound := d/2 + 127*math.Abs(d-dd[0]) + 1e-12
		for j := b * 32; j < b*32+32; j++ {
			if math.Abs(g[j]-w[j]) > bound {
				t.Errorf("%s[%d]: %g vs %g beyond the Q8_0 block error %g", what, j, g[j], w[j], bound)
				return
			}
		}
	}
}

// TestConversionErrorReport: lossy conversions report per-tensor errors,
// worst first, and non-finite results (an f32 value beyond f16's range)
// as "Infinity", which a JSON gate cannot mistake for a small number.
func TestConversionErrorReport(t *testing.T) {
	c := officialCheckpoint(t, tiny, ckpt.F32, 11, false)
	_, rep := convertMem(t, c, Options{Format: FormatPTH, DType: ToBF16})
	e := rep.ConversionError
	ints := 0
	for _, tr := range rep.Tensors {
		if tr.DType == "I64" {
			ints++
		}
	}
	if e == nil || !e.Lossy || ints != 6 || e.Tensors != len(rep.Tensors)-ints {
		t.Fatalf("conversion error %+v", e)
	}
	if !sort.SliceIsSorted(e.Worst, func(i, j int) bool { return e.Worst[i].RelRMS > e.Worst[j].RelRMS }) {
		t.Errorf("worst tensors not sorted worst first")
	}
	if float64(e.MaxRelRMS) != float64(e.Worst[0].RelRMS) || float64(e.MaxRelRMS) > 1.0/256 {
		t.Errorf("max rel RMS %v, worst %v", e.MaxRelRMS, e.Worst[0])
	}
	for _, tr := range rep.Tensors {
		if (tr.Error == nil) != (tr.DType == "I64") {
			t.Errorf("%s (%s): error %v", tr.To, tr.DType, tr.Error)
		}
	}

	// Overflow: one qkv weight far beyond f16's range.
	for _, tt := range c.Tensors {
		if strings.HasSuffix(tt.Name, "layers.1.blocks.0.attn.qkv.weight") {
			raw := readAll(t, tt)
			binary.LittleEndian.PutUint32(raw[4*3:], math.Float32bits(1e6))
			tt.Data = bytes.NewReader(raw)
		}
	}
	_, rep = convertMem(t, c, Options{Format: FormatPTH, DType: ToF16})
	w := rep.ConversionError.Worst[0]
	if w.Name != "backbone.stages.1.blocks.0.attn.w_msa.qkv.weight" || w.NonFinite != 1 || !math.IsInf(float64(w.RelRMS), 1) {
		t.Errorf("worst %+v", w)
	}
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back struct {
		ConversionError struct {
			MaxRelRMS any   `json:"max_rel_rms_error"`
			NonFinite int64 `json:"non_finite"`
		} `json:"conversion_error"`
	}
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	// Non-finite numbers are null in every JSON output; the count says why.
	if back.ConversionError.MaxRelRMS != nil || back.ConversionError.NonFinite != 1 {
		t.Errorf("max_rel_rms_error is %v, non_finite %d in JSON", back.ConversionError.MaxRelRMS, back.ConversionError.NonFinite)
	}
	var md bytes.Buffer
	if err := rep.WriteMarkdown(&md); err != nil || !strings.Contains(md.String(), "## Conversion error, worst first") {
		t.Errorf("markdown: %v", err)
	}
}

// TestQ8OnlyWeights: --dtype q8_0 quantises exactly the 2-D weights with
// rows of whole blocks; norms, biases, bias tables and the conv stay f32,
// index buffers int64.
func TestQ8OnlyWeights(t *testing.T) {
	c := officialCheckpoint(t, tiny, ckpt.F16, 2, false)
	_, rep := convertMem(t, c, Options{Format: FormatGGUF, DType: ToQ8_0})
	for _, tr := range rep.Tensors {
		want := "F32"
		switch {
		case strings.HasSuffix(tr.To, "relative_position_index"):
			want = "I64"
		case len(tr.Shape) == 2 && strings.HasSuffix(tr.To, ".weight"):
			want = "Q8_0"
		}
		if tr.DType != want {
			t.Errorf("%s %v: %s, want %s", tr.To, tr.Shape, tr.DType, want)
		}
	}
}

// TestDeterministic: the same input and flags give byte-identical outputs
// and reports.
func TestDeterministic(t *testing.T) {
	src := fixture(t, "official_small_f16.pth")
	for _, f := range []string{"x.pth", "x.safetensors", "x.gguf"} {
		var outs, reps [][]byte
		for i := 0; i < 3; i++ {
			dir := t.TempDir()
			dst := filepath.Join(dir, f)
			// The third run without the fsync: the same bytes.
			if _, err := ConvertFile(context.Background(), src, dst, FileOptions{Options: Options{DType: ToF16}, NoSync: i == 2}); err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(dst)
			j, _ := os.ReadFile(dst + ".report.json")
			outs = append(outs, b)
			reps = append(reps, bytes.ReplaceAll(j, []byte(dir), []byte("DIR")))
		}
		for i := 1; i < len(outs); i++ {
			if !bytes.Equal(outs[0], outs[i]) || !bytes.Equal(reps[0], reps[i]) {
				t.Errorf("%s: conversions 1 and %d differ", f, i+1)
			}
		}
	}
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// TestAtomic: a conversion that fails part-way (cancelled after the first
// bytes) leaves nothing in the target directory; an existing DST is an
// error without --force and is left alone; --force replaces it.
func TestAtomic(t *testing.T) {
	src := fixture(t, "official_small.pth")
	for _, f := range []string{"x.pth", "x.safetensors", "x.gguf"} {
		for _, noSync := range []bool{false, true} {
			dir := t.TempDir()
			ctx, cancel := context.WithCancel(context.Background())
			opts := FileOptions{NoSync: noSync, Options: Options{Progress: func(w, total int64) {
				if w > 1000 {
					cancel()
				}
			}}}
			_, err := ConvertFile(ctx, src, filepath.Join(dir, f), opts)
			cancel()
			if err == nil {
				t.Fatalf("%s (no sync %v): cancelled conversion succeeded", f, noSync)
			}
			if names := listDir(t, dir); len(names) != 0 {
				t.Errorf("%s (no sync %v): failed conversion left %v", f, noSync, names)
			}
		}
	}

	dir := t.TempDir()
	dst := filepath.Join(dir, "x.pth")
	if err := os.WriteFile(dst, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := ConvertFile(context.Background(), src, dst, FileOptions{})
	if err == nil || !strings.Contains(err.Error(), "already exists") || !strings.Contains(err.Error(), dst) {
		t.Errorf("existing DST: %v", err)
	}
	if b, _ := os.ReadFile(dst); string(b) != "old" {
		t.Errorf("existing DST was changed")
	}
	if names := listDir(t, dir); len(names) != 1 {
		t.Errorf("left %v", names)
	}
	// An existing report blocks too.
	dst2 := filepath.Join(dir, "y.pth")
	os.WriteFile(dst2+".report.md", []byte("old"), 0o644)
	if _, err := ConvertFile(context.Background(), src, dst2, FileOptions{}); err == nil {
		t.Errorf("existing report: no error")
	}
	if _, err := os.Stat(dst2); err == nil {
		t.Errorf("DST written although its report exists")
	}
	if _, err := ConvertFile(context.Background(), src, dst, FileOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(dst); len(b) < 1000 {
		t.Errorf("--force did not replace DST")
	}
	// --report elsewhere.
	base := filepath.Join(dir, "rep", "conv")
	os.Mkdir(filepath.Dir(base), 0o755)
	if _, err := ConvertFile(context.Background(), src, filepath.Join(dir, "z.pth"), FileOptions{ReportBase: base}); err != nil {
		t.Fatal(err)
	}
	if names := listDir(t, filepath.Dir(base)); !reflect.DeepEqual(names, []string{"conv.json", "conv.md"}) {
		t.Errorf("report dir has %v", names)
	}
}

// TestUnwritableTarget: a target directory nobody may write to (or that
// does not exist) gives a clean error naming DST and leaves nothing.
func TestUnwritableTarget(t *testing.T) {
	src := fixture(t, "official_small.pth")
	dir := t.TempDir()
	ro := filepath.Join(dir, "ro")
	if err := os.Mkdir(ro, 0o555); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		ro = "/proc" // root ignores permission bits; nobody creates files in /proc
	}
	for _, dst := range []string{filepath.Join(ro, "x.pth"), filepath.Join(dir, "missing", "x.pth")} {
		_, err := ConvertFile(context.Background(), src, dst, FileOptions{})
		if err == nil || !strings.HasPrefix(err.Error(), dst+": ") || strings.Contains(err.Error(), ".tmp-") {
			t.Errorf("%s: error %v", dst, err)
		}
	}
	if names := listDir(t, dir); !reflect.DeepEqual(names, []string{"ro"}) {
		t.Errorf("left %v", names)
	}
}

// TestBadInput: files that are not a consistent Swin backbone get a
// one-line error naming the file and the key, and nothing is written.
func TestBadInput(t *testing.T) {
	mutate := func(suffix string, f func(*ckpt.Tensor)) *ckpt.Checkpoint {
		c := officialCheckpoint(t, tiny, ckpt.F32, 1, false)
		for _, tt := range c.Tensors {
			if strings.HasSuffix(tt.Name, suffix) {
				f(tt)
			}
		}
		return c
	}
	reshape := func(shape ...int64) func(*ckpt.Tensor) {
		return func(tt *ckpt.Tensor) {
			n, _ := ckpt.Numel(shape)
			tt.Shape = shape
			tt.Data = bytes.NewReader(make([]byte, 4*n))
		}
	}
	drop := func(tt *ckpt.Tensor) { tt.Name = "model/module.rpn.gone" }
	cases := []struct {
		name string
		c    *ckpt.Checkpoint
		opts Options
		want []string
	}{
		{"no backbone", &ckpt.Checkpoint{Path: "mem.pth", Tensors: []*ckpt.Tensor{randTensor(t, rand.New(rand.NewPCG(1, 2)), "model/module.rpn.x", ckpt.F32, 1, 4)}}, Options{}, []string{"mem.pth: not a GLIP/Swin backbone"}},
		{"reduction width", mutate("layers.0.downsample.reduction.weight", reshape(64, 126)), Options{}, []string{"layers.0.downsample.reduction.weight", "not divisible by 4"}},
		{"qkv shape", mutate("layers.1.blocks.0.attn.qkv.weight", reshape(100, 64)), Options{}, []string{"backbone.stages.1.blocks.0.attn.w_msa.qkv.weight", "has shape"}},
		{"fc2 shape", mutate("layers.1.blocks.1.mlp.fc2.weight", reshape(64, 100)), Options{}, []string{"module.backbone.body.layers.1.blocks.1.mlp.fc2.weight has shape [64, 100], want [64, 256]"}},
		{"missing", mutate("layers.1.blocks.1.attn.proj.bias", drop), Options{}, []string{"module.backbone.body.layers.1.blocks.1.attn.proj.bias is missing"}},
		{"no patch embed", mutate("patch_embed.proj.weight", drop), Options{}, []string{"patch_embed.projection.weight"}},
		{"from mismatch", officialCheckpoint(t, tiny, ckpt.F32, 1, false), Options{From: glip.LayoutMMPretrain}, []string{"from: mmpretrain, but the keys are in the official layout"}},
	}
	for _, c := range cases {
		c.opts.Format = FormatPTH
		var b bytes.Buffer
		_, err := Convert(nil, c.c, Source{Path: "mem.pth"}, &b, c.opts)
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) || strings.Contains(err.Error(), "\n") {
				t.Errorf("%s: error %q does not say %q", c.name, err, w)
			}
		}
		if b.Len() != 0 {
			t.Errorf("%s: %d bytes written before the error", c.name, b.Len())
		}
		var oe *OptionError
		if c.name == "from mismatch" && (!errors.As(err, &oe) || oe.Option != "from") {
			t.Errorf("%s: %v is not an OptionError of from", c.name, err)
		}
	}
	// A file of another kind (a checkpoint without a backbone).
	dir := t.TempDir()
	dst := filepath.Join(dir, "x.pth")
	_, err := ConvertFile(context.Background(), fixture(t, "views.pth"), dst, FileOptions{})
	if err == nil || !strings.Contains(err.Error(), "views.pth: not a GLIP/Swin backbone") {
		t.Errorf("views.pth: %v", err)
	}
	if names := listDir(t, dir); len(names) != 0 {
		t.Errorf("left %v", names)
	}
}

// TestOptionsCheck: combinations that are usage mistakes.
func TestOptionsCheck(t *testing.T) {
	for _, o := range []Options{
		{Format: "tflite"},
		{Format: FormatPTH, DType: ToQ8_0},
		{Format: FormatSafetensors, DType: ToQ8_0},
		{Format: FormatGGUF, Layout: glip.LayoutOfficial},
		{Format: FormatPTH, Layout: "other"},
		{Format: FormatPTH, From: "other"},
		{Format: FormatPTH, DType: "f8"},
	} {
		if err := o.Check(); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
	for _, o := range []Options{{Format: FormatGGUF, DType: ToQ8_0}, {Format: FormatPTH, Layout: glip.LayoutOfficial, From: "auto"}} {
		if err := o.Check(); err != nil {
			t.Errorf("%+v: %v", o, err)
		}
	}
	if _, err := ParseDTypeMode("q4"); err == nil {
		t.Error("q4 accepted")
	}
	if f, ok := FormatFromPath("a/b.SafeTensors"); !ok || f != FormatSafetensors {
		t.Error("extension")
	}
	if _, ok := FormatFromPath("a/b.bin"); ok {
		t.Error(".bin accepted")
	}
}

// TestPthWriterReadBack: the .pth of an official-layout output holds
// {"model": OrderedDict} and reads back through the pth reader.
func TestPthWriterReadBack(t *testing.T) {
	c := officialCheckpoint(t, tiny, ckpt.F32, 4, false)
	out, _ := convertMem(t, c, Options{Format: FormatPTH, Layout: glip.LayoutOfficial})
	back, err := pth.Read(bytes.NewReader(out), int64(len(out)), "x.pth", ckpt.OpenOptions{Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	prefix, sd := back.StateDict()
	if prefix != "model/" || len(sd) == 0 || !strings.HasPrefix(sd[0].Name, "module.backbone.body.") {
		t.Errorf("prefix %q, first %v", prefix, sd[0].Name)
	}
}

func sha256hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// TestQ8SourceDequantised: a Q8_0 GGUF source converts to .pth and
// safetensors as F32, exactly (an f16 scale times an int8 is an f32), and
// back to GGUF as Q8_0 unchanged.
func TestQ8SourceDequantised(t *testing.T) {
	c := officialCheckpoint(t, tiny, ckpt.F32, 8, false)
	q8, _ := convertMem(t, c, Options{Format: FormatGGUF, DType: ToQ8_0})
	src, err := gguf.Read(bytes.NewReader(q8), int64(len(q8)), "q8.gguf")
	if err != nil {
		t.Fatal(err)
	}
	out, rep := convertMem(t, src, Options{Format: FormatPTH})
	if e := rep.ConversionError; e == nil || e.Lossy || float64(e.MaxAbs) != 0 {
		t.Errorf("dequantisation error %+v", e)
	}
	back, err := pth.Read(bytes.NewReader(out), int64(len(out)), "x.pth", ckpt.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i, tt := range src.Tensors {
		got := back.Tensors[i]
		want := tt.DType
		if want == ckpt.Q8_0 {
			want = ckpt.F32
		}
		if got.Name != tt.Name || got.DType != want {
			t.Fatalf("%s: %s read back as %s %s", tt.Name, tt.DType, got.Name, got.DType)
		}
		a, _ := tt.Float64()
		b, _ := got.Float64()
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s: values changed", tt.Name)
		}
	}
	again, _ := convertMem(t, src, Options{Format: FormatGGUF})
	src2, err := gguf.Read(bytes.NewReader(again), int64(len(again)), "again.gguf")
	if err != nil {
		t.Fatal(err)
	}
	for i, tt := range src.Tensors {
		if src2.Tensors[i].DType != tt.DType || !bytes.Equal(readAll(t, src2.Tensors[i]), readAll(t, tt)) {
			t.Errorf("%s: GGUF -> GGUF changed the tensor", tt.Name)
		}
	}
}

// failWriter fails after n bytes, like a full disk.
type failWriter struct{ n int }

func (f *failWriter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		k := f.n
		f.n = 0
		return k, errors.New("no space left on device")
	}
	f.n -= len(p)
	return len(p), nil
}

// TestWriteError: an output that cannot be written gives a WriteError
// (which ConvertFile reports against DST), for every format.
func TestWriteError(t *testing.T) {
	c := officialCheckpoint(t, tiny, ckpt.F32, 6, false)
	for _, f := range []Format{FormatPTH, FormatSafetensors, FormatGGUF} {
		for _, n := range []int{0, 100, 500_000} {
			_, err := Convert(nil, c, Source{Path: "mem.pth"}, &failWriter{n: n}, Options{Format: f})
			var we *WriteError
			if !errors.As(err, &we) || !strings.Contains(err.Error(), "no space left on device") || strings.Contains(err.Error(), "mem.pth") {
				t.Errorf("%s after %d bytes: %v", f, n, err)
			}
		}
	}
}

// TestConvertFileDigestCache: with a digest cache the source's sha256 is
// computed once and then taken from the cache (sha256_source "computed",
// then "cache"); Rehash computes it again. The outputs, whose metadata holds
// the sum, are the same bytes every time.
func TestConvertFileDigestCache(t *testing.T) {
	src := fixture(t, "official_small.pth")
	if fi, err := os.Stat(src); err != nil || time.Since(fi.ModTime()) < 3*time.Second {
		t.Skip("fixture just written: the digest cache does not keep racy files")
	}
	srcBytes, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	cache := digest.Cache{Dir: filepath.Join(t.TempDir(), "digests")}
	dir := t.TempDir()
	var first []byte
	for i, c := range []struct {
		rehash bool
		want   string
	}{{false, SHA256Computed}, {false, SHA256Cached}, {true, SHA256Computed}, {false, SHA256Cached}} {
		dst := filepath.Join(dir, "out.gguf")
		rep, err := ConvertFile(context.Background(), src, dst, FileOptions{Options: Options{DType: ToQ8_0}, Force: true, Digests: cache, Rehash: c.rehash})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Source.SHA256 != sha256hex(srcBytes) || rep.Source.SHA256Source != c.want {
			t.Errorf("run %d: source %+v, want %s from %q", i, rep.Source, sha256hex(srcBytes), c.want)
		}
		out, err := os.ReadFile(dst)
		if err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = out
		} else if !bytes.Equal(out, first) {
			t.Errorf("run %d: output differs", i)
		}
	}
	// Without a cache: computed.
	rep, err := ConvertFile(context.Background(), src, filepath.Join(dir, "x.pth"), FileOptions{})
	if err != nil || rep.Source.SHA256Source != SHA256Computed {
		t.Fatalf("no cache: %v, %+v", err, rep)
	}
}
