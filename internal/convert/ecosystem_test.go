package convert

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/glipctl/glipctl/internal/ckpt"
	"github.com/glipctl/glipctl/internal/glip"
	"github.com/glipctl/glipctl/internal/oracle"
	"github.com/glipctl/glipctl/internal/preprocess"
	"github.com/glipctl/glipctl/internal/swin"
)

// ecoPython runs scripts/oracles/eco_ref.py with args.
func ecoPython(t *testing.T, args ...string) {
	t.Helper()
	script := oracle.Script(t, "oracles/eco_ref.py")
	out, err := exec.Command(oracle.Python, append([]string{script}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("eco_ref.py %s: %v\n%s", args[0], err, out)
	}
}

// glipFeatures runs glipctl's forward pass (internal/swin) on the backbone
// of the checkpoint at path, on the .npy input.
func glipFeatures(t *testing.T, path, npy string, sem swin.Semantics) map[int][]float32 {
	t.Helper()
	b, err := glip.NewBackbone(open(t, path))
	if err != nil {
		t.Fatal(err)
	}
	m, err := swin.FromTensors(b.Tensors())
	if err != nil {
		t.Fatal(err)
	}
	shape, data, err := preprocess.ReadNPY(npy)
	if err != nil {
		t.Fatal(err)
	}
	feats, err := m.Forward(swin.Input{N: shape[0], C: shape[1], H: shape[2], W: shape[3], Data: data}, swin.Options{Semantics: sem})
	if err != nil {
		t.Fatal(err)
	}
	out := map[int][]float32{}
	for _, f := range feats {
		out[f.Stage] = f.Data
	}
	return out
}

// TestEcosystemLibraries converts random GLIP weights of a Swin-T- and a
// Swin-L-shaped model to every ecosystem layout and has
// scripts/oracles/eco_ref.py load each output as its library does (torchvision
// itself; transformers' and timm's rules reproduced from their code) and
// run that library's forward pass on the RGB ImageNet-normalised image;
// its features must be glipctl's features of the original weights on the
// same image in GLIP's BGR input, under the window rule the library runs
// (GLIP's for SwinBackbone, mmpretrain's, which the others equal at the
// native size), within 1e-4 x max|ref| per stage. A BGR export
// (--input-order bgr) is fed GLIP's input.
func TestEcosystemLibraries(t *testing.T) {
	oracle.Require(t, "torch", "torchvision", "numpy")
	t.Parallel()
	for _, m := range []struct {
		name, embed, depths, heads string
		window, size               int
	}{
		{"t", "32", "2,2,6,2", "1,2,4,8", 7, 224},
		{"l", "24", "2,2,2,2", "2,4,8,16", 12, 384},
	} {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			ecoPython(t, "make", "--embed", m.embed, "--depths", m.depths, "--heads", m.heads,
				"--window", fmt.Sprint(m.window), "--size", fmt.Sprint(m.size), "--seed", "7", "--out", dir)
			official := filepath.Join(dir, "official.pth")
			bgr, rgb := filepath.Join(dir, "input_bgr.npy"), filepath.Join(dir, "input_rgb.npy")
			cases := []struct {
				layout glip.Layout
				out    string
				order  glip.InputOrder
				sem    swin.Semantics
			}{
				{glip.LayoutHF, "hf", "", swin.GLIP},
				{glip.LayoutHFModel, "hf-model", "", swin.MMPretrain},
				{glip.LayoutTimm, "timm", "", swin.MMPretrain},
				{glip.LayoutTorchvision, "tv.pth", "", swin.MMPretrain},
				{glip.LayoutTorchvision, "tv_bgr.safetensors", glip.InputBGR, swin.MMPretrain},
			}
			args := []string{"check", "--official", official, "--input", rgb}
			for _, c := range cases {
				dst := filepath.Join(dir, c.out)
				rep, err := ConvertFile(context.Background(), official, dst, FileOptions{
					Options: Options{Layout: c.layout, InputOrder: c.order, Version: "test"}, NoSync: true})
				if err != nil {
					t.Fatalf("%s: %v", c.out, err)
				}
				want := glip.InputRGB
				if c.order == glip.InputBGR {
					want = glip.InputBGR
				}
				if rep.Ecosystem == nil || rep.Ecosystem.InputOrder != want {
					t.Fatalf("%s: report's ecosystem section %+v, want input order %s", c.out, rep.Ecosystem, want)
				}
				in := rgb
				if want == glip.InputBGR {
					in = bgr
				}
				args = append(args, "--case", fmt.Sprintf("%s:%s:%s:%s", c.layout, dst, dst+".feats.safetensors", in))
			}
			ecoPython(t, args...)
			ref := map[swin.Semantics]map[int][]float32{
				swin.GLIP:       glipFeatures(t, official, bgr, swin.GLIP),
				swin.MMPretrain: glipFeatures(t, official, bgr, swin.MMPretrain),
			}
			for _, c := range cases {
				feats := open(t, filepath.Join(dir, c.out)+".feats.safetensors")
				for _, k := range []int{1, 2, 3} {
					got := feats.Tensor(fmt.Sprintf("stage%d", k))
					if got == nil {
						t.Fatalf("%s: no stage%d from the library", c.out, k)
					}
					v, err := got.Float32()
					if err != nil {
						t.Fatal(err)
					}
					w := ref[c.sem][k]
					if len(v) != len(w) {
						t.Fatalf("%s: stage%d has %d values, glipctl %d", c.out, k, len(v), len(w))
					}
					var d, r float64
					for i := range v {
						d = max(d, math.Abs(float64(v[i])-float64(w[i])))
						r = max(r, math.Abs(float64(w[i])))
					}
					if !(d <= 1e-4*r) {
						t.Errorf("%s: stage%d: max|lib - glipctl| %.3g > 1e-4 x max|ref| %.3g", c.out, k, d, r)
					}
					t.Logf("%s: stage%d: max|diff|/max|ref| %.2g", c.out, k, d/r)
				}
			}
		})
	}
}

// TestTorchvisionNames compares the torchvision layout's keys and shapes
// for the real Swin-T architecture with torchvision.models.swin_t()'s
// state dict: the same names and shapes, less head.* (load_state_dict
// does not depend on the order).
func TestTorchvisionNames(t *testing.T) {
	oracle.Require(t, "torch", "torchvision")
	t.Parallel()
	out := filepath.Join(t.TempDir(), "names.json")
	ecoPython(t, "names", "--out", out)
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var tv [][2]json.RawMessage
	if err := json.Unmarshal(raw, &tv); err != nil {
		t.Fatal(err)
	}
	a := swin.Arch{EmbedDim: 96, Depths: []int{2, 2, 6, 2}, Heads: []int{3, 6, 12, 24}, Window: 7, PatchSize: 4, InChans: 3, MLPRatio: 4}
	var canon []glip.Key
	for _, k := range a.ExpectedKeys(glip.OutIndices) {
		canon = append(canon, glip.Key{Name: k.Name, Shape: k.Shape})
	}
	keys, noSlot, err := glip.LayoutKeys(glip.LayoutTorchvision, canon)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, e := range tv {
		var name string
		var shape []int64
		json.Unmarshal(e[0], &name)
		json.Unmarshal(e[1], &shape)
		if strings.HasPrefix(name, "head.") {
			continue
		}
		want = append(want, name+ckpt.ShapeString(shape))
	}
	var got []string
	for _, k := range keys {
		got = append(got, k.Name+ckpt.ShapeString(k.Shape))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("torchvision layout keys differ from swin_t()'s:\n got %v\nwant %v", got, want)
	}
	if !slices.Equal(noSlot, []string{"backbone.norm1.weight", "backbone.norm1.bias", "backbone.norm2.weight", "backbone.norm2.bias"}) {
		t.Errorf("no slot for %v, want norm1 and norm2", noSlot)
	}
}

// TestEcosystemRoundTrip converts the official fixture to every ecosystem
// layout (RGB and BGR) and back to the official layout: every backbone
// tensor must come back with its official name and the same bytes, but
// the per-stage norms the layout has no slot for, which the report of the
// first conversion names.
func TestEcosystemRoundTrip(t *testing.T) {
	src := fixture(t, "official_small.pth")
	_, sd := open(t, src).StateDict()
	orig := map[string]*ckpt.Tensor{}
	for _, tt := range sd {
		if strings.HasPrefix(tt.Name, "module.backbone.body.") {
			orig[tt.Name] = tt
		}
	}
	for _, c := range []struct {
		layout glip.Layout
		out    string
		order  glip.InputOrder
		noSlot []string // per-stage norms without a slot
	}{
		{glip.LayoutHF, "hf", "", nil},
		{glip.LayoutHF, "hf_bgr", glip.InputBGR, nil},
		{glip.LayoutHFModel, "hfm", "", []string{"norm1", "norm2"}},
		{glip.LayoutTimm, "timm", "", []string{"norm1", "norm2"}},
		{glip.LayoutTimm, "timm_bgr", glip.InputBGR, []string{"norm1", "norm2"}},
		{glip.LayoutTorchvision, "tv.pth", "", []string{"norm1", "norm2"}},
		{glip.LayoutTorchvision, "tv.safetensors", "", []string{"norm1", "norm2"}},
		{glip.LayoutTorchvision, "tv_bgr.pth", glip.InputBGR, []string{"norm1", "norm2"}},
	} {
		t.Run(c.out, func(t *testing.T) {
			dir := t.TempDir()
			mid := filepath.Join(dir, c.out)
			rep, err := ConvertFile(context.Background(), src, mid, FileOptions{Options: Options{Layout: c.layout, InputOrder: c.order, Version: "test"}, NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			var wantNoSlot []string
			for _, n := range c.noSlot {
				wantNoSlot = append(wantNoSlot, "backbone."+n+".bias", "backbone."+n+".weight")
			}
			if c.layout == glip.LayoutTimm {
				for i := 0; i < 4; i++ {
					for j := 0; j < 2; j++ {
						wantNoSlot = append(wantNoSlot, fmt.Sprintf("backbone.stages.%d.blocks.%d.attn.w_msa.relative_position_index", i, j))
					}
				}
			}
			if !slices.Equal(rep.Ecosystem.NoSlot, wantNoSlot) {
				t.Errorf("report: no slot for %v, want %v", rep.Ecosystem.NoSlot, wantNoSlot)
			}
			// A torchvision .pth has no metadata: its input order is given.
			var from glip.InputOrder
			if strings.HasSuffix(c.out, ".pth") {
				from = rep.Ecosystem.InputOrder
			}
			back := filepath.Join(dir, "back.pth")
			if _, err := ConvertFile(context.Background(), mid, back, FileOptions{Options: Options{Layout: glip.LayoutOfficial, SourceInputOrder: from, Version: "test"}, NoSync: true}); err != nil {
				t.Fatal(err)
			}
			_, got := open(t, back).StateDict()
			seen := map[string]bool{}
			for _, g := range got {
				o := orig[g.Name]
				if o == nil {
					t.Errorf("%s: not in the original", g.Name)
					continue
				}
				seen[g.Name] = true
				if g.DType != o.DType || !slices.Equal(g.Shape, o.Shape) || string(readAll(t, g)) != string(readAll(t, o)) {
					t.Errorf("%s: %s %v differs from the original's %s %v", g.Name, g.DType, g.Shape, o.DType, o.Shape)
				}
			}
			for n := range orig {
				if seen[n] {
					continue
				}
				ok := false
				for _, k := range c.noSlot {
					ok = ok || strings.HasPrefix(n, "module.backbone.body."+k+".")
				}
				if !ok {
					t.Errorf("%s did not come back", n)
				}
			}
		})
	}
}

// TestEcosystemFromQ8 converts a q8_0 GGUF (whose qkv and patch-merging
// weights of the later stages are Q8_0) to every ecosystem layout and back
// to mmpretrain names: every value must be the GGUF's, dequantised exactly.
func TestEcosystemFromQ8(t *testing.T) {
	dir := t.TempDir()
	q8 := filepath.Join(dir, "q8.gguf")
	if _, err := ConvertFile(context.Background(), fixture(t, "official_small.pth"), q8, FileOptions{Options: Options{DType: ToQ8_0, Version: "test"}, NoSync: true}); err != nil {
		t.Fatal(err)
	}
	b, err := glip.NewBackbone(open(t, q8))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]float32{}
	quantised := 0
	for _, tt := range b.Tensors() {
		if tt.DType == ckpt.Q8_0 {
			quantised++
		}
		if tt.DType.IsFloat() || tt.DType == ckpt.Q8_0 {
			if want[tt.Name], err = tt.Float32(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if quantised == 0 {
		t.Fatal("the GGUF has no Q8_0 tensor")
	}
	for _, l := range []glip.Layout{glip.LayoutHF, glip.LayoutHFModel, glip.LayoutTimm, glip.LayoutTorchvision} {
		mid := filepath.Join(dir, string(l))
		if l == glip.LayoutTorchvision {
			mid += ".safetensors"
		}
		if _, err := ConvertFile(context.Background(), q8, mid, FileOptions{Options: Options{Layout: l, Version: "test"}, NoSync: true}); err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		back := filepath.Join(dir, string(l)+"_back.safetensors")
		if _, err := ConvertFile(context.Background(), mid, back, FileOptions{Options: Options{Version: "test"}, NoSync: true}); err != nil {
			t.Fatalf("%s back: %v", l, err)
		}
		for _, g := range open(t, back).Tensors {
			w, ok := want[g.Name]
			if !ok {
				continue
			}
			v, err := g.Float32()
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(v, w) {
				t.Errorf("%s: %s differs from the GGUF's values", l, g.Name)
			}
		}
	}
}
