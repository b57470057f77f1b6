package convert

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/glipctl/glipctl/internal/ckpt"
	"github.com/glipctl/glipctl/internal/glip"
	"github.com/glipctl/glipctl/internal/oracle"
	"github.com/glipctl/glipctl/internal/swin"
)

// TestONNXWeightsAreTheConversion: the weights in a .onnx are the tensors
// the same conversion writes to safetensors (names, dtypes, shapes,
// bytes), in f32 and f16.
func TestONNXWeightsAreTheConversion(t *testing.T) {
	dir := t.TempDir()
	src := fixture(t, "official_small.pth")
	for _, mode := range []DTypeMode{ToF32, ToF16} {
		on := filepath.Join(dir, string(mode)+".onnx")
		st := filepath.Join(dir, string(mode)+".safetensors")
		if _, err := ConvertFile(context.Background(), src, on, FileOptions{Options: Options{DType: mode, Graph: GraphOptions{Height: 224, Width: 224}}, NoSync: true}); err != nil {
			t.Fatal(err)
		}
		if _, err := ConvertFile(context.Background(), src, st, FileOptions{Options: Options{DType: mode}, NoSync: true}); err != nil {
			t.Fatal(err)
		}
		oc, sc := open(t, on), open(t, st)
		want := map[string]*ckpt.Tensor{}
		for _, tn := range sc.Tensors {
			want[tn.Name] = tn
		}
		weights := 0
		for _, tn := range oc.Tensors {
			w, ok := want[tn.Name]
			if !ok {
				continue // biases, masks and constants of the graph
			}
			weights++
			if tn.DType != w.DType || !bytes.Equal(readAll(t, tn), readAll(t, w)) {
				t.Errorf("%s %s: %s differs from the safetensors conversion (%s)", mode, tn.Name, tn.DType, w.DType)
			}
		}
		// Every weight but the relative position tables and indices (whose
		// expansion the graph holds).
		if weights != len(sc.Tensors)-2*8 {
			t.Errorf("%s: %d weights in the graph, %d in the conversion", mode, weights, len(sc.Tensors))
		}
	}
}

// TestONNXRunsLikeForward: ONNX Runtime on the converted fixture (official
// layout, remapped) gives the features of the Go forward pass on the
// fixture itself.
func TestONNXRunsLikeForward(t *testing.T) {
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(oracle.Script(t, "node_modules/onnxruntime-node/package.json"))
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skipf("ONNX Runtime is not available (%v); run `npm ci --ignore-scripts --prefix scripts`", err)
	}
	dir := t.TempDir()
	src := fixture(t, "official_small.pth")
	sc := open(t, src)
	b, err := glip.NewBackbone(sc) // as glipctl forward: official names remapped in memory
	if err != nil {
		t.Fatal(err)
	}
	model, err := swin.FromTensors(b.Tensors())
	if err != nil {
		t.Fatal(err)
	}
	const h, w = 200, 236
	rng := rand.New(rand.NewPCG(5, 5))
	x := swin.Input{N: 2, C: 3, H: h, W: w, Data: make([]float32, 2*3*h*w)}
	raw := make([]byte, 4*len(x.Data))
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(x.Data[i]))
	}
	in := filepath.Join(dir, "x.f32")
	os.WriteFile(in, raw, 0o644)
	for _, sem := range []swin.Semantics{swin.MMPretrain, swin.GLIP} {
		dst := filepath.Join(dir, string(sem)+".onnx")
		if _, err := ConvertFile(context.Background(), src, dst, FileOptions{Options: Options{Graph: GraphOptions{Height: h, Width: w, Semantics: sem}}, NoSync: true}); err != nil {
			t.Fatal(err)
		}
		feats, err := model.Forward(x, swin.Options{Semantics: sem})
		if err != nil {
			t.Fatal(err)
		}
		spec, _ := json.Marshal(map[string]any{"jobs": []any{map[string]any{"model": dst, "threads": 1,
			"runs": []any{map[string]any{"input": in, "shape": []int{2, 3, h, w}, "out": dst}}}}})
		sp := filepath.Join(dir, "jobs.json")
		os.WriteFile(sp, spec, 0o644)
		if out, err := exec.Command(node, oracle.Script(t, "oracles/onnx_run.mjs"), sp).CombinedOutput(); err != nil {
			t.Fatalf("onnx_run.mjs: %v\n%s", err, out)
		}
		for _, f := range feats {
			b, err := os.ReadFile(dst + ".stage" + string(rune('0'+f.Stage)) + ".f32")
			if err != nil {
				t.Fatal(err)
			}
			if len(b) != 4*len(f.Data) {
				t.Fatalf("%s stage%d: %d values, want %d", sem, f.Stage, len(b)/4, len(f.Data))
			}
			var d, mx float64
			for i, v := range f.Data {
				g := math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
				d = max(d, math.Abs(float64(g)-float64(v)))
				mx = max(mx, math.Abs(float64(v)))
			}
			if d > 1e-4*mx {
				t.Errorf("%s stage%d: max |onnx - go| %.3g, max |go| %.3g", sem, f.Stage, d, mx)
			}
		}
	}
}
