package swin

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/glipctl/glipctl/internal/ckpt"
	"github.com/glipctl/glipctl/internal/glip"
	"github.com/glipctl/glipctl/internal/oracle"
)

var (
	refsOnce sync.Once
	refsDir  string
	refsErr  error
)

// forwardRefs returns the directory of the parity fixtures made by
// scripts/fixtures/forward_make_refs.py. They are made once per version of the
// scripts and kept in the user cache directory (GLIPCTL_FORWARD_REFS
// overrides the location).
func forwardRefs(t testing.TB) string {
	t.Helper()
	oracle.Require(t, "torch", "torchvision", "numpy")
	refsOnce.Do(func() {
		h := sha256.New()
		for _, s := range []string{"oracles/swin_ref.py", "oracles/glip_remap.py", "fixtures/forward_make_refs.py"} {
			b, err := os.ReadFile(oracle.Script(t, s))
			if err != nil {
				refsErr = err
				return
			}
			h.Write(b)
		}
		dir := os.Getenv("GLIPCTL_FORWARD_REFS")
		if dir == "" {
			base, err := os.UserCacheDir()
			if err != nil {
				base = os.TempDir()
			}
			dir = filepath.Join(base, "glipctl-test", "forward-"+hex.EncodeToString(h.Sum(nil))[:16])
		}
		if _, err := os.Stat(filepath.Join(dir, "manifest.json")); err == nil {
			refsDir = dir
			return
		}
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			refsErr = err
			return
		}
		tmp, err := os.MkdirTemp(filepath.Dir(dir), ".forward-tmp-")
		if err != nil {
			refsErr = err
			return
		}
		cmd := exec.Command(oracle.Python, oracle.Script(t, "fixtures/forward_make_refs.py"), "--out", tmp)
		if out, err := cmd.CombinedOutput(); err != nil {
			os.RemoveAll(tmp)
			refsErr = fmt.Errorf("forward_make_refs.py: %v\n%s", err, out)
			return
		}
		if err := os.Rename(tmp, dir); err != nil {
			os.RemoveAll(tmp)
			if _, serr := os.Stat(filepath.Join(dir, "manifest.json")); serr != nil {
				refsErr = err
				return
			}
		}
		refsDir = dir
	})
	if refsErr != nil {
		t.Fatal(refsErr)
	}
	return refsDir
}

type refCase struct {
	Model      string `json:"model"`
	Weights    string `json:"weights"`
	Semantics  string `json:"semantics"`
	Input      string `json:"input"`
	Size       []int  `json:"size"`
	Batch      int    `json:"batch"`
	Ref        string `json:"ref"`
	ErrorStage *int   `json:"error_stage"`
}

type refManifest struct {
	Cases []refCase `json:"cases"`
}

func readManifest(t testing.TB, dir string) refManifest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m refManifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// readSafetensors is a minimal safetensors reader for the tests, so that
// the forward pass is tested whatever the state of the format packages.
func readSafetensors(t testing.TB, path string) []*ckpt.Tensor {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(raw)
	var hdr map[string]json.RawMessage
	if err := json.Unmarshal(raw[8:8+n], &hdr); err != nil {
		t.Fatal(err)
	}
	data := raw[8+n:]
	type info struct {
		DType   string  `json:"dtype"`
		Shape   []int64 `json:"shape"`
		Offsets [2]int  `json:"data_offsets"`
	}
	var out []*ckpt.Tensor
	for name, v := range hdr {
		if name == "__metadata__" {
			continue
		}
		var in info
		if err := json.Unmarshal(v, &in); err != nil {
			t.Fatal(err)
		}
		dt, err := ckpt.ParseDType(in.DType)
		if err != nil {
			t.Fatal(err)
		}
		tn, err := ckpt.FromBytes(name, dt, in.Shape, data[in.Offsets[0]:in.Offsets[1]])
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, tn)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func tensorByName(ts []*ckpt.Tensor, name string) *ckpt.Tensor {
	for _, t := range ts {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// compareFeature returns max|got-ref| and max|ref| of a feature against a
// reference tensor of the same shape.
func compareFeature(t testing.TB, f Feature, ref *ckpt.Tensor) (maxDiff, maxRef float64) {
	t.Helper()
	if ref == nil {
		t.Fatalf("stage%d: no reference tensor", f.Stage)
	}
	if !slices.Equal(ref.Shape, f.Shape()) {
		t.Fatalf("stage%d: shape %v, reference %v", f.Stage, f.Shape(), ref.Shape)
	}
	want, err := ref.Float32()
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range want {
		maxDiff = max(maxDiff, math.Abs(float64(f.Data[i])-float64(w)))
		maxRef = max(maxRef, math.Abs(float64(w)))
	}
	return maxDiff, maxRef
}

// randomTensors returns mmpretrain-named random weights of an architecture
// (LayerNorm weights around 1, biases and relative position bias non-zero).
func randomTensors(a Arch, outIndices []int, seed uint64) []*ckpt.Tensor {
	rng := rand.New(rand.NewPCG(seed, 7))
	var ts []*ckpt.Tensor
	idx := RelativePositionIndex(a.Window)
	for _, ks := range a.ExpectedKeys(outIndices) {
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
		v := make([]float32, n)
		fanIn := float64(ks.Shape[len(ks.Shape)-1])
		if len(ks.Shape) == 4 {
			fanIn = float64(ks.Shape[1] * ks.Shape[2] * ks.Shape[3])
		}
		// value = center + scale * N(0, 1), by the kind of tensor
		center, scale := 0.0, 1/math.Sqrt(fanIn)
		switch {
		case strings.HasSuffix(ks.Name, "norm1.weight"), strings.HasSuffix(ks.Name, "norm2.weight"), strings.Contains(ks.Name, "norm.weight"), strings.HasPrefix(ks.Name, "backbone.norm") && strings.HasSuffix(ks.Name, ".weight"):
			center, scale = 1, 0.3
		case strings.HasSuffix(ks.Name, ".bias"):
			scale = 0.1
		case strings.HasSuffix(ks.Name, "bias_table"):
			scale = 0.8
		}
		for i := range v {
			v[i] = float32(center + scale*rng.NormFloat64())
		}
		t, _ := ckpt.FromFloat32(ks.Name, ks.Shape, v)
		ts = append(ts, t)
	}
	return ts
}

// SwinT is the real Swin-T architecture.
var swinT = Arch{EmbedDim: 96, Depths: []int{2, 2, 6, 2}, Heads: []int{3, 6, 12, 24}, Window: 7, PatchSize: 4, InChans: 3, MLPRatio: 4}

func randomInput(n, h, w int, seed uint64) Input {
	rng := rand.New(rand.NewPCG(seed, 11))
	x := Input{N: n, C: 3, H: h, W: w, Data: make([]float32, n*3*h*w)}
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	return x
}

// modelFromCheckpoint builds the model of a checkpoint of any layout, as
// glipctl forward does: the backbone found by glip.NewBackbone (official
// names remapped in memory), then FromTensors.
func modelFromCheckpoint(c *ckpt.Checkpoint) (*Model, error) {
	b, err := glip.NewBackbone(c)
	if err != nil {
		return nil, err
	}
	return FromTensors(b.Tensors())
}
