package convert

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/glipctl/glipctl/internal/ckpt"
	"github.com/glipctl/glipctl/internal/ckpt/ckpttest"
	"github.com/glipctl/glipctl/internal/ckpt/formats"
)

// fixture is a committed fixture of testdata/ (scripts/fixtures/make_fixtures.py).
func fixture(t *testing.T, name string) string {
	t.Helper()
	p := ckpttest.Fixture(t, name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("fixture %s: %v (regenerate with scripts/fixtures/make_fixtures.py)", name, err)
	}
	return p
}

func open(t *testing.T, path string) *ckpt.Checkpoint {
	t.Helper()
	c, err := formats.Open(path, ckpt.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func readAll(t *testing.T, tt *ckpt.Tensor) []byte {
	t.Helper()
	b, err := tt.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// poison is tensor data that fails the test if anything reads it.
type poison struct {
	t    *testing.T
	name string
}

func (p poison) ReadAt(b []byte, off int64) (int, error) {
	p.t.Errorf("dropped tensor %q was read", p.name)
	return 0, errors.New("poison")
}

// smallSwin describes the in-memory test backbone.
type smallSwin struct {
	embed, window int
	depths, heads []int
	out           []int
}

var tiny = smallSwin{embed: 32, window: 3, depths: []int{2, 2, 2}, heads: []int{1, 2, 4}, out: []int{1, 2}}

// randTensor makes a tensor of random values of dtype dt.
func randTensor(t *testing.T, rng *rand.Rand, name string, dt ckpt.DType, scale float64, shape ...int64) *ckpt.Tensor {
	t.Helper()
	n, _ := ckpt.Numel(shape)
	nb, _ := dt.Bytes(n)
	raw := make([]byte, nb)
	le := binary.LittleEndian
	for i := int64(0); i < n; i++ {
		v := rng.NormFloat64() * scale
		switch dt {
		case ckpt.F32:
			le.PutUint32(raw[4*i:], math.Float32bits(float32(v)))
		case ckpt.F64:
			le.PutUint64(raw[8*i:], math.Float64bits(v))
		case ckpt.F16:
			le.PutUint16(raw[2*i:], F16Bits(float32(v)))
		case ckpt.BF16:
			le.PutUint16(raw[2*i:], BF16Bits(float32(v)))
		case ckpt.I64:
			le.PutUint64(raw[8*i:], uint64(i%17))
		default:
			t.Fatalf("randTensor: %s", dt)
		}
	}
	tt, err := ckpt.FromBytes(name, dt, shape, raw)
	if err != nil {
		t.Fatal(err)
	}
	return tt
}

// officialCheckpoint builds an official GLIP checkpoint in memory:
// "model/module.backbone.body.*" in state_dict() order, then FPN, language
// backbone and RPN tensors, then optimizer state outside "model/". With
// poisoned set, the tensors that must be dropped fail the test if read.
func officialCheckpoint(t *testing.T, s smallSwin, dt ckpt.DType, seed uint64, poisoned bool) *ckpt.Checkpoint {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	var ts []*ckpt.Tensor
	add := func(name string, d ckpt.DType, scale float64, shape ...int64) {
		ts = append(ts, randTensor(t, rng, "model/module.backbone.body."+name, d, scale, shape...))
	}
	e, w := int64(s.embed), int64(s.window)
	add("patch_embed.proj.weight", dt, 0.2, e, 3, 4, 4)
	add("patch_embed.proj.bias", dt, 0.05, e)
	add("patch_embed.norm.weight", dt, 1, e)
	add("patch_embed.norm.bias", dt, 0.05, e)
	for i, depth := range s.depths {
		c, h := e<<i, int64(s.heads[i])
		for j := 0; j < depth; j++ {
			p := fmt.Sprintf("layers.%d.blocks.%d.", i, j)
			add(p+"norm1.weight", dt, 1, c)
			add(p+"norm1.bias", dt, 0.05, c)
			add(p+"attn.relative_position_bias_table", dt, 0.2, (2*w-1)*(2*w-1), h)
			add(p+"attn.relative_position_index", ckpt.I64, 0, w*w, w*w)
			add(p+"attn.qkv.weight", dt, 0.3, 3*c, c)
			add(p+"attn.qkv.bias", dt, 0.05, 3*c)
			add(p+"attn.proj.weight", dt, 0.3, c, c)
			add(p+"attn.proj.bias", dt, 0.05, c)
			add(p+"norm2.weight", dt, 1, c)
			add(p+"norm2.bias", dt, 0.05, c)
			add(p+"mlp.fc1.weight", dt, 0.3, 4*c, c)
			add(p+"mlp.fc1.bias", dt, 0.05, 4*c)
			add(p+"mlp.fc2.weight", dt, 0.3, c, 4*c)
			add(p+"mlp.fc2.bias", dt, 0.05, c)
		}
		if i < len(s.depths)-1 {
			p := fmt.Sprintf("layers.%d.downsample.", i)
			add(p+"reduction.weight", dt, 0.3, 2*c, 4*c)
			add(p+"norm.weight", dt, 1, 4*c)
			add(p+"norm.bias", dt, 0.05, 4*c)
		}
	}
	for _, k := range s.out {
		add(fmt.Sprintf("norm%d.weight", k), dt, 1, e<<k)
		add(fmt.Sprintf("norm%d.bias", k), dt, 0.05, e<<k)
	}
	drop := func(name string, shape ...int64) {
		tt := randTensor(t, rng, name, ckpt.F32, 0.1, shape...)
		if poisoned {
			tt.Data = poison{t, name}
		}
		ts = append(ts, tt)
	}
	drop("model/module.backbone.fpn.fpn_inner2.weight", 16, 2*e, 1, 1)
	drop("model/module.backbone.fpn.fpn_inner2.bias", 16)
	drop("model/module.language_backbone.body.model.embeddings.word_embeddings.weight", 50, 16)
	drop("model/module.rpn.head.bbox_pred.weight", 4, 16, 3, 3)
	drop("optimizer/state/0/momentum_buffer", e, 3, 4, 4)
	return &ckpt.Checkpoint{Path: "mem.pth", Format: ckpt.FormatTorchZip, Tensors: ts}
}

// convertMem converts c in memory and returns the output bytes and report.
func convertMem(t *testing.T, c *ckpt.Checkpoint, opts Options) ([]byte, *Report) {
	t.Helper()
	var b bytes.Buffer
	if opts.Version == "" {
		opts.Version = "test"
	}
	r, err := Convert(nil, c, Source{Path: c.Path}, &b, opts)
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes(), r
}

// writeFile writes b to a new file in t's temp dir.
func writeFile(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// stateOf returns the tensors of a file's state dict (container removed).
func stateOf(t *testing.T, path string) []*ckpt.Tensor {
	t.Helper()
	_, sd := open(t, path).StateDict()
	return sd
}
