package onnxgraph

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/x448/float16"

	"github.com/glipctl/glipctl/internal/ckpt"
	"github.com/glipctl/glipctl/internal/ckpt/onnx"
	"github.com/glipctl/glipctl/internal/oracle"
	"github.com/glipctl/glipctl/internal/swin"
)

// Small models with the structure of Swin-T and Swin-L (depths, heads,
// window) and narrow stages (head width 4), so that a test runs in seconds.
var (
	tShaped = swin.Arch{EmbedDim: 12, Depths: []int{2, 2, 6, 2}, Heads: []int{3, 6, 12, 24}, Window: 7, PatchSize: 4, InChans: 3, MLPRatio: 4}
	lShaped = swin.Arch{EmbedDim: 24, Depths: []int{2, 2, 18, 2}, Heads: []int{6, 12, 24, 48}, Window: 12, PatchSize: 4, InChans: 3, MLPRatio: 4}
)

// randomTensors returns mmpretrain-named random weights of an architecture
// (LayerNorm weights around 1, biases and relative position tables
// non-zero), in dtype F32 or F16.
func randomTensors(a swin.Arch, norms []int, seed uint64, dt ckpt.DType) []*ckpt.Tensor {
	rng := rand.New(rand.NewPCG(seed, 7))
	var ts []*ckpt.Tensor
	idx := swin.RelativePositionIndex(a.Window)
	for _, ks := range a.ExpectedKeys(norms) {
		n, _ := ckpt.Numel(ks.Shape)
		if strings.HasSuffix(ks.Name, "relative_position_index") {
			raw := make([]byte, 8*n)
			for i, v := range idx {
				binary.LittleEndian.PutUint64(raw[8*i:], uint64(v))
			}
			t, _ := ckpt.FromBytes(ks.Name, ckpt.I64, ks.Shape, raw)
			ts = append(ts, t)
			continue
		}
		fanIn := float64(ks.Shape[len(ks.Shape)-1])
		if len(ks.Shape) == 4 {
			fanIn = float64(ks.Shape[1] * ks.Shape[2] * ks.Shape[3])
		}
		center, scale := 0.0, 1/math.Sqrt(fanIn)
		switch {
		case strings.HasSuffix(ks.Name, "bias_table"):
			scale = 0.8
		case strings.Contains(ks.Name, "norm") && strings.HasSuffix(ks.Name, ".weight"):
			center, scale = 1, 0.3
		case strings.HasSuffix(ks.Name, ".bias"):
			scale = 0.1
		}
		raw := make([]byte, n*int64(dt.Size()))
		for i := range n {
			v := float32(center + scale*rng.NormFloat64())
			if dt == ckpt.F16 {
				binary.LittleEndian.PutUint16(raw[2*i:], float16.Fromfloat32(v).Bits())
			} else {
				binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
			}
		}
		t, _ := ckpt.FromBytes(ks.Name, dt, ks.Shape, raw)
		ts = append(ts, t)
	}
	return ts
}

func randomInput(n, h, w int, seed uint64) swin.Input {
	rng := rand.New(rand.NewPCG(seed, 11))
	x := swin.Input{N: n, C: 3, H: h, W: w, Data: make([]float32, n*3*h*w)}
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	return x
}

// onnxRuntime returns node and the onnx_run.mjs script, skipping the test
// (failing it under CI) when ONNX Runtime is not installed.
func onnxRuntime(t testing.TB) (node, script string) {
	t.Helper()
	script = oracle.Script(t, "oracles/onnx_run.mjs")
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(oracle.Script(t, "node_modules/onnxruntime-node/package.json"))
	}
	if err != nil {
		msg := fmt.Sprintf("ONNX Runtime is not available (%v); install Node.js >= 20 and run `npm ci --ignore-scripts --prefix scripts`", err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return node, script
}

type ortRun struct {
	Input string  `json:"input"`
	Shape []int   `json:"shape"`
	Out   string  `json:"out"`
	MS    []int64 `json:"-"`
}

type ortJob struct {
	Model   string   `json:"model"`
	Threads int      `json:"threads"`
	Runs    []ortRun `json:"runs"`
}

type ortResult struct {
	Out     string           `json:"out"`
	Outputs map[string][]int `json:"outputs"`
}

// runORT runs the jobs in one node process and returns the results by
// run prefix.
func runORT(t testing.TB, jobs []ortJob) map[string]ortResult {
	t.Helper()
	node, script := onnxRuntime(t)
	spec, _ := json.Marshal(map[string]any{"jobs": jobs})
	specPath := filepath.Join(t.TempDir(), "jobs.json")
	if err := os.WriteFile(specPath, spec, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, script, specPath)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("onnx_run.mjs: %v\n%s", err, stderr.Bytes())
	}
	res := map[string]ortResult{}
	for _, line := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
		var r ortResult
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("onnx_run.mjs printed %q: %v", line, err)
		}
		res[r.Out] = r
	}
	return res
}

func writeF32(t testing.TB, path string, v []float32) {
	t.Helper()
	raw := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(x))
	}
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
}

func readF32(t testing.TB, path string) []float32 {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	v := make([]float32, len(raw)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return v
}

func writeModel(t testing.TB, path string, m *onnx.Model) {
	t.Helper()
	var buf bytes.Buffer
	if err := onnx.Write(&buf, m); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// maxDiff returns max|got-ref| and max|ref|.
func maxDiff(got, ref []float32) (d, r float64) {
	for i := range ref {
		d = max(d, math.Abs(float64(got[i])-float64(ref[i])))
		r = max(r, math.Abs(float64(ref[i])))
	}
	return d, r
}

type exportCase struct {
	arch   string
	a      swin.Arch
	h, w   int
	sem    swin.Semantics
	opset  int
	dt     ckpt.DType
	batch  int
	prefix string
}

// TestMatchesForward runs the exported graphs in ONNX Runtime and compares
// their features with the Go forward pass (internal/swin) on the same
// weights and input: T- and L-shaped models at 224, 384 and 360x456 (not
// square, not a multiple of 32: padded windows and odd maps to merge),
// both semantics, opset 17 with f32 weights; at 360x456 also opset 13 and
// f16 weights (all four for T, one each semantics for L); batch 1
// everywhere and batch 3 for T at 360x456.
func TestMatchesForward(t *testing.T) {
	onnxRuntime(t)
	dir := t.TempDir()
	odd := [2]int{360, 456}
	var cases []exportCase
	var jobs []ortJob
	refs := map[string][]swin.Feature{}
	models := map[string]*swin.Model{}
	weights := map[string][]*ckpt.Tensor{}
	archs := []struct {
		name string
		a    swin.Arch
	}{{"T", tShaped}, {"L", lShaped}}
	if testing.Short() {
		archs = archs[:1]
	}
	for _, m := range archs {
		for _, dt := range []ckpt.DType{ckpt.F32, ckpt.F16} {
			key := m.name + dt.String()
			weights[key] = randomTensors(m.a, []int{0, 1, 2, 3}, 1, dt)
			mod, err := swin.FromTensors(weights[key])
			if err != nil {
				t.Fatal(err)
			}
			models[key] = mod
		}
		for _, sz := range [][2]int{{224, 224}, {384, 384}, odd} {
			batch := 1
			if sz == odd && m.name == "T" {
				batch = 3
			}
			x := randomInput(batch, sz[0], sz[1], uint64(sz[0]*1000+sz[1]))
			in := filepath.Join(dir, fmt.Sprintf("in%s%dx%d.f32", m.name, sz[0], sz[1]))
			writeF32(t, in, x.Data)
			one := in
			if batch > 1 {
				one = filepath.Join(dir, fmt.Sprintf("in%s%dx%d_1.f32", m.name, sz[0], sz[1]))
				writeF32(t, one, x.Data[:3*sz[0]*sz[1]])
			}
			for _, sem := range []swin.Semantics{swin.MMPretrain, swin.GLIP} {
				if m.a.CheckSize(sz[0], sz[1], sem) != nil {
					continue // Swin-L at 224 under mmpretrain: TestBadRequests
				}
				variants := [][2]int{{17, int(ckpt.F32)}}
				switch {
				case sz == odd && m.name == "L" && sem == swin.MMPretrain:
					// Swin-L's shape costs 10 times Swin-T's: one variant.
					variants = [][2]int{{13, int(ckpt.F16)}}
				case sz == odd && m.name == "T":
					variants = append(variants, [2]int{13, int(ckpt.F32)}, [2]int{17, int(ckpt.F16)}, [2]int{13, int(ckpt.F16)})
				}
				for _, v := range variants {
					opset, dt := v[0], ckpt.DType(v[1])
					c := exportCase{m.name, m.a, sz[0], sz[1], sem, opset, dt, batch, ""}
					c.prefix = filepath.Join(dir, fmt.Sprintf("%s_%dx%d_%s_%d_%s", m.name, sz[0], sz[1], sem, opset, dt))
					model, err := Build(weights[m.name+dt.String()], Options{Height: c.h, Width: c.w, Semantics: sem, Opset: opset, OutIndices: []int{0, 1, 2, 3}})
					if err != nil {
						t.Fatalf("%s: %v", c.prefix, err)
					}
					writeModel(t, c.prefix+".onnx", model)
					runs := []ortRun{{Input: one, Shape: []int{1, 3, sz[0], sz[1]}, Out: c.prefix + ".b1"}}
					if batch > 1 {
						runs = append(runs, ortRun{Input: in, Shape: []int{batch, 3, sz[0], sz[1]}, Out: fmt.Sprintf("%s.b%d", c.prefix, batch)})
					}
					jobs = append(jobs, ortJob{Model: c.prefix + ".onnx", Threads: 2, Runs: runs})
					cases = append(cases, c)
					rk := c.refKey(dt)
					if refs[rk] == nil {
						fs, err := models[m.name+dt.String()].Forward(x, swin.Options{Semantics: sem, OutIndices: []int{0, 1, 2, 3}})
						if err != nil {
							t.Fatal(err)
						}
						refs[rk] = fs
					}
				}
			}
		}
	}
	res := runORT(t, jobs)
	for _, c := range cases {
		f32 := refs[c.refKey(ckpt.F32)]
		bs := []int{1}
		if c.batch > 1 {
			bs = append(bs, c.batch)
		}
		for _, b := range bs {
			r, ok := res[fmt.Sprintf("%s.b%d", c.prefix, b)]
			if !ok {
				t.Fatalf("%s: no result for batch %d", c.prefix, b)
			}
			for i, f := range refs[c.refKey(c.dt)] {
				name := OutputName(f.Stage)
				want := []int{b, f.C, f.H, f.W}
				if !slices.Equal(r.Outputs[name], want) {
					t.Fatalf("%s batch %d: %s has shape %v, want %v", c.prefix, b, name, r.Outputs[name], want)
				}
				got := readF32(t, fmt.Sprintf("%s.b%d.%s.f32", c.prefix, b, name))
				n := b * f.C * f.H * f.W
				d, mx := maxDiff(got, f.Data[:n])
				if d > 1e-4*mx {
					t.Errorf("%s batch %d %s: max |onnx - go| = %.3g, max |go| = %.3g (%.2g of it, want <= 1e-4)", c.prefix, b, name, d, mx, d/mx)
				}
				if c.dt == ckpt.F16 && f32 != nil {
					// Against the f32 model, whose weights the f16 ones
					// round (relative 2^-11 each).
					d32, mx32 := maxDiff(got, f32[i].Data[:n])
					if d32 > 0.05*mx32 {
						t.Errorf("%s batch %d %s: f16 graph is %.3g from the f32 model (max %.3g)", c.prefix, b, name, d32, mx32)
					}
				}
			}
		}
	}
	t.Logf("%d graphs in ONNX Runtime", len(cases))
}

func (c exportCase) refKey(dt ckpt.DType) string {
	return fmt.Sprintf("%s%s%dx%d%s", c.arch, dt, c.h, c.w, c.sem)
}

// TestBadRequests: inputs too small for mmpretrain semantics, opsets out
// of range and non-Swin tensors are refused.
func TestBadRequests(t *testing.T) {
	ts := randomTensors(lShaped, []int{1, 2, 3}, 1, ckpt.F32)
	_, err := Build(ts, Options{Height: 224, Width: 224})
	var sm *swin.SmallMapError
	if !errors.As(err, &sm) || sm.Stage != 3 {
		t.Errorf("Swin-L at 224 under mmpretrain: %v, want a SmallMapError at stage 3", err)
	}
	if _, err := Build(ts, Options{Height: 224, Width: 224, Semantics: swin.GLIP}); err != nil {
		t.Errorf("Swin-L at 224 under glip: %v", err)
	}
	for _, op := range []int{12, 18} {
		var oe *OpsetError
		if _, err := Build(ts, Options{Height: 384, Width: 384, Opset: op}); !errors.As(err, &oe) {
			t.Errorf("opset %d: %v, want an OpsetError", op, err)
		}
	}
	w, _ := ckpt.FromFloat32("fc.weight", []int64{2, 2}, []float32{1, 2, 3, 4})
	if _, err := Build([]*ckpt.Tensor{w}, Options{Height: 224, Width: 224}); err == nil || !strings.Contains(err.Error(), "not a Swin backbone") {
		t.Errorf("non-Swin tensors: %v", err)
	}
	if _, err := Build(ts, Options{Height: 384, Width: 384, OutIndices: []int{0}}); err != nil {
		t.Errorf("out index 0 without norm0 (mmpretrain): %v", err)
	}
	if _, err := Build(ts, Options{Height: 384, Width: 384, OutIndices: []int{4}}); err == nil {
		t.Errorf("out index 4 accepted")
	}
}

// zeros is a ReaderAt of zero bytes, the data of tensors whose values do
// not matter.
type zeros struct{}

func (zeros) ReadAt(p []byte, off int64) (int, error) {
	clear(p)
	return len(p), nil
}

// zeroTensors returns the tensors of an architecture with zero values
// (the relative position index is not needed).
func zeroTensors(a swin.Arch) []*ckpt.Tensor {
	var ts []*ckpt.Tensor
	for _, ks := range a.ExpectedKeys(swin.DefaultOutIndices) {
		if strings.HasSuffix(ks.Name, "relative_position_index") {
			continue
		}
		ts = append(ts, &ckpt.Tensor{Name: ks.Name, DType: ckpt.F32, Shape: ks.Shape, Data: zeros{}})
	}
	return ts
}

type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}

// TestFileOverhead: a file of Swin-T's or Swin-L's real sizes is at most
// 1% larger than the tensors it holds (weights, biases, masks, constants).
func TestFileOverhead(t *testing.T) {
	for _, c := range []struct {
		name string
		a    swin.Arch
		size int
	}{
		{"Swin-T", swin.Arch{EmbedDim: 96, Depths: []int{2, 2, 6, 2}, Heads: []int{3, 6, 12, 24}, Window: 7, PatchSize: 4, InChans: 3, MLPRatio: 4}, 224},
		{"Swin-L", swin.Arch{EmbedDim: 192, Depths: []int{2, 2, 18, 2}, Heads: []int{6, 12, 24, 48}, Window: 12, PatchSize: 4, InChans: 3, MLPRatio: 4}, 384},
	} {
		for _, opset := range []int{13, 17} {
			m, err := Build(zeroTensors(c.a), Options{Height: c.size, Width: c.size, Opset: opset})
			if err != nil {
				t.Fatal(err)
			}
			var held int64
			for _, it := range m.Graph.Initializers {
				held += it.NBytes()
			}
			var w countingWriter
			if err := onnx.Write(&w, m); err != nil {
				t.Fatal(err)
			}
			over := float64(w.n-held) / float64(held)
			t.Logf("%s opset %d: %d bytes for %d bytes of tensors (+%.3f%%), %d nodes", c.name, opset, w.n, held, 100*over, len(m.Graph.Nodes))
			if over > 0.01 {
				t.Errorf("%s opset %d: the file is %.2f%% larger than its tensors", c.name, opset, 100*over)
			}
		}
	}
}

type checkResult struct {
	IRVersion int            `json:"ir_version"`
	Opsets    map[string]int `json:"opsets"`
	Outputs   map[string]struct {
		Declared []any `json:"declared"`
		Inferred []any `json:"inferred"`
	} `json:"outputs"`
	Initializers []struct {
		Name   string  `json:"name"`
		DType  string  `json:"dtype"`
		Dims   []int64 `json:"dims"`
		SHA256 string  `json:"sha256"`
	} `json:"initializers"`
	Inputs   map[string][]any  `json:"inputs"`
	Metadata map[string]string `json:"metadata"`
}

// TestONNXChecker: Debian's python3-onnx accepts the graphs
// (check_model with full_check, strict shape inference), infers the
// declared output shapes from the nodes, and reads the initializers as
// written.
func TestONNXChecker(t *testing.T) {
	oracle.Require(t, "onnx", "numpy")
	dir := t.TempDir()
	var paths []string
	var models []*onnx.Model
	for _, c := range []struct {
		a     swin.Arch
		h, w  int
		sem   swin.Semantics
		opset int
		dt    ckpt.DType
		outs  []int
	}{
		{tShaped, 224, 224, swin.MMPretrain, 17, ckpt.F32, nil},
		{tShaped, 360, 456, swin.GLIP, 13, ckpt.F16, []int{0, 1, 2, 3}},
		{tShaped, 100, 60, swin.GLIP, 16, ckpt.F32, []int{2, 0}},
		{lShaped, 384, 384, swin.MMPretrain, 15, ckpt.F16, nil},
	} {
		m, err := Build(randomTensors(c.a, []int{1, 2, 3}, 3, c.dt), Options{Height: c.h, Width: c.w, Semantics: c.sem, Opset: c.opset, OutIndices: c.outs,
			Metadata: []onnx.StringEntry{{Key: "source_file", Value: "x.pth"}}})
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, fmt.Sprintf("m%d.onnx", len(paths)))
		writeModel(t, p, m)
		paths = append(paths, p)
		models = append(models, m)
	}
	cmd := exec.Command(oracle.Python, append([]string{oracle.Script(t, "oracles/onnx_check.py")}, paths...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("onnx_check.py: %v\n%s", err, stderr.Bytes())
	}
	lines := bytes.Split(bytes.TrimSpace(out), []byte("\n"))
	if len(lines) != len(paths) {
		t.Fatalf("onnx_check.py printed %d lines for %d models", len(lines), len(paths))
	}
	for i, line := range lines {
		var r checkResult
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatal(err)
		}
		m := models[i]
		if r.IRVersion != IRVersion || r.Opsets["ai.onnx"] != int(m.Opsets[0].Version) || len(r.Opsets) != 1 {
			t.Errorf("%s: ir_version %d, opsets %v", paths[i], r.IRVersion, r.Opsets)
		}
		if len(r.Outputs) != len(m.Graph.Outputs) {
			t.Errorf("%s: %d outputs, want %d", paths[i], len(r.Outputs), len(m.Graph.Outputs))
		}
		for _, o := range m.Graph.Outputs {
			got := r.Outputs[o.Name]
			if len(got.Inferred) != 4 {
				t.Errorf("%s %s: inferred shape %v", paths[i], o.Name, got.Inferred)
				continue
			}
			for d := 1; d < 4; d++ { // the batch is symbolic
				if v, ok := got.Inferred[d].(float64); !ok || int64(v) != o.Shape[d].Value {
					t.Errorf("%s %s: inferred %v, declared %v", paths[i], o.Name, got.Inferred, o.Shape)
				}
			}
		}
		if len(r.Inputs) != 1 || len(r.Inputs[InputName]) != 4 || r.Inputs[InputName][0] != "N" {
			t.Errorf("%s: inputs %v", paths[i], r.Inputs)
		}
		if r.Metadata["source_file"] != "x.pth" || r.Metadata["semantics"] == "" {
			t.Errorf("%s: metadata %v", paths[i], r.Metadata)
		}
		if len(r.Initializers) != len(m.Graph.Initializers) {
			t.Fatalf("%s: %d initializers, wrote %d", paths[i], len(r.Initializers), len(m.Graph.Initializers))
		}
		for j, it := range m.Graph.Initializers {
			raw, err := it.ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			ri := r.Initializers[j]
			want := fmt.Sprintf("%x", sha256Sum(raw))
			if ri.Name != it.Name || !slices.Equal(ri.Dims, it.Shape) || ri.SHA256 != want || ri.DType != it.DType.TorchName() {
				t.Errorf("%s: initializer %d is %s %s %v, wrote %s %s %v", paths[i], j, ri.Name, ri.DType, ri.Dims, it.Name, it.DType.TorchName(), it.Shape)
			}
		}
	}
}

func sha256Sum(b []byte) [32]byte { return sha256.Sum256(b) }
