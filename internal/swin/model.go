package swin

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/glipctl/glipctl/internal/ckpt"
	"github.com/glipctl/glipctl/internal/gemm"
	"github.com/glipctl/glipctl/internal/parallel"
)

// Semantics selects which of the two reference backbones the forward pass
// reproduces (docs/glip.md, section 4). They differ only in when a block with
// an odd index shifts its windows.
type Semantics string

const (
	// MMPretrain is mmpretrain's SwinTransformer with pad_small_map=False,
	// what the converted zoo weights are used with: odd blocks shift by
	// window/2 unless min(H, W) == window (no shift); min(H, W) < window is
	// an error.
	MMPretrain Semantics = "mmpretrain"
	// GLIP is the GLIP repository's detection backbone, what the weights
	// were trained with: odd blocks always shift by window/2, with the
	// shifted-window mask computed on the padded map, whatever its size.
	GLIP Semantics = "glip"
)

// ParseSemantics accepts "mmpretrain" or "glip" (case-insensitively).
func ParseSemantics(s string) (Semantics, error) {
	switch strings.ToLower(s) {
	case string(MMPretrain):
		return MMPretrain, nil
	case string(GLIP):
		return GLIP, nil
	}
	return "", fmt.Errorf("unknown semantics %q (want mmpretrain or glip)", s)
}

// DefaultOutIndices are the output stages of both zoo models.
var DefaultOutIndices = []int{1, 2, 3}

// LayerNorm epsilon of every norm of the backbone.
const lnEps = 1e-5

// maskValue is the additive attention mask between tokens of different
// regions of a shifted window.
const maskValue = -100

// linear is a fully connected layer: y = x·Wᵀ + b, W is out×in row-major.
// W is kept packed for gemm.Kernel (pw); the plain matrix w is rebuilt from
// it (Model.rawWeights) only for a kernel without PackedMatMul.
type linear struct {
	pw      *gemm.PackedB
	w       []float32 // nil until rawWeights
	b       []float32 // nil: no bias
	out, in int
}

type layerNorm struct {
	w, b []float32
}

type block struct {
	norm1, norm2 layerNorm
	qkv, proj    linear
	fc1, fc2     linear
	// bias is the relative position bias expanded per head: bias[h*N*N +
	// i*N + j] for window tokens i, j (N = window²).
	bias []float32
}

type merge struct {
	norm layerNorm // over 4C, in nn.Unfold (channel-major) order
	red  linear    // 2C × 4C, no bias
}

type stage struct {
	dim, heads int
	blocks     []block
	down       *merge // nil for the last stage
}

// Model is a Swin backbone with its weights in float32, ready to run.
type Model struct {
	Arch Arch
	// MatMul is the matrix product kernel; nil means DefaultMatMul.
	MatMul MatMul

	patchW []float32 // embed × (in_chans*patch*patch), conv weight flattened
	patchB []float32
	patchN layerNorm
	stages []stage
	// norms are the per-output norms norm{K} present in the weights.
	norms map[int]layerNorm
	// pool holds *workspace: the buffers of forward passes, reused across
	// calls and safe for concurrent ones (each pass takes its own).
	pool sync.Pool
	// rawOnce guards the unpacking of the linear weights (rawWeights).
	rawOnce sync.Once
}

// rawWeights makes the plain weight matrices of every linear layer
// available (once), for kernels that do not take packed weights.
func (m *Model) rawWeights() {
	m.rawOnce.Do(func() {
		for i := range m.stages {
			st := &m.stages[i]
			for j := range st.blocks {
				b := &st.blocks[j]
				for _, l := range []*linear{&b.qkv, &b.proj, &b.fc1, &b.fc2} {
					l.w = l.pw.UnpackT()
				}
			}
			if st.down != nil {
				st.down.red.w = st.down.red.pw.UnpackT()
			}
		}
	})
}

// OutNorms returns the stage indices K for which the weights hold a
// norm{K}, in increasing order.
func (m *Model) OutNorms() []int {
	ks := make([]int, 0, len(m.norms))
	for k := range m.norms {
		ks = append(ks, k)
	}
	sort.Ints(ks)
	return ks
}

// FromTensors builds a model from tensors with mmpretrain backbone names
// ("backbone.stages.0.blocks.0.attn.w_msa.qkv.weight"; the "backbone."
// prefix may be missing). The architecture is read off the shapes
// (ArchFromShapes); every tensor it needs is checked against the expected
// shape and converted to float32 (F32, F16, BF16, Q8_0, ... via
// Tensor.Float32). Tensors that are not part of the backbone are ignored.
func FromTensors(tensors []*ckpt.Tensor) (*Model, error) {
	byName := map[string]*ckpt.Tensor{}
	shapes := map[string][]int64{}
	for _, t := range tensors {
		n := t.Name
		if !strings.HasPrefix(n, "backbone.") {
			n = "backbone." + n
		}
		if _, dup := byName[n]; dup && n != t.Name {
			continue // a "backbone."-prefixed tensor wins over a bare one
		}
		byName[n] = t
		shapes[n] = t.Shape
	}
	arch, err := ArchFromShapes(shapes)
	if err != nil {
		return nil, err
	}
	if arch.PatchSize <= 0 || arch.InChans <= 0 || arch.MLPRatio <= 0 || arch.Window <= 0 {
		return nil, fmt.Errorf("implausible architecture (%s, patch %d, in_chans %d, mlp ratio %d)", arch, arch.PatchSize, arch.InChans, arch.MLPRatio)
	}
	m := &Model{Arch: arch, norms: map[int]layerNorm{}}
	// Which output norms exist decides the expected keys.
	var outs []int
	for k := range arch.Depths {
		if _, ok := byName[fmt.Sprintf("backbone.norm%d.weight", k)]; ok {
			outs = append(outs, k)
		}
	}
	want := map[string][]int64{}
	for _, ks := range arch.ExpectedKeys(outs) {
		want[ks.Name] = ks.Shape
	}
	get := func(name string) ([]float32, error) {
		t, ok := byName[name]
		if !ok {
			return nil, fmt.Errorf("missing tensor %s", name)
		}
		if ws, ok := want[name]; ok && !slices.Equal(t.Shape, ws) {
			return nil, fmt.Errorf("tensor %s has shape %s, want %s", name, ckpt.ShapeString(t.Shape), ckpt.ShapeString(ws))
		}
		if !t.DType.IsFloat() {
			return nil, fmt.Errorf("tensor %s has dtype %s, want a floating-point type", name, t.DType)
		}
		v, err := t.Float32()
		if err != nil {
			return nil, err
		}
		for _, x := range v {
			if x-x != 0 { // NaN or ±Inf
				return nil, fmt.Errorf("tensor %s holds NaN or Inf", name)
			}
		}
		return v, nil
	}
	getLN := func(prefix string) (layerNorm, error) {
		w, err := get(prefix + ".weight")
		if err != nil {
			return layerNorm{}, err
		}
		b, err := get(prefix + ".bias")
		return layerNorm{w, b}, err
	}
	getLinear := func(prefix string, bias bool) (linear, error) {
		w, err := get(prefix + ".weight")
		if err != nil {
			return linear{}, err
		}
		s := byName[prefix+".weight"].Shape
		l := linear{out: int(s[0]), in: int(s[1])}
		l.pw = gemm.Kernel{}.PackBT(l.out, l.in, w, l.in)
		if bias {
			if l.b, err = get(prefix + ".bias"); err != nil {
				return linear{}, err
			}
		}
		return l, nil
	}

	if m.patchW, err = get("backbone.patch_embed.projection.weight"); err != nil {
		return nil, err
	}
	if m.patchB, err = get("backbone.patch_embed.projection.bias"); err != nil {
		return nil, err
	}
	if m.patchN, err = getLN("backbone.patch_embed.norm"); err != nil {
		return nil, err
	}
	w := arch.Window
	nTok := w * w
	relIndex := RelativePositionIndex(w)
	// The layers are read, converted and packed in parallel, one task per
	// block or patch merging; the first error in model order is reported.
	var tasks []func() error
	m.stages = make([]stage, len(arch.Depths))
	for i, depth := range arch.Depths {
		st := &m.stages[i]
		st.dim, st.heads = arch.EmbedDim<<i, arch.Heads[i]
		st.blocks = make([]block, depth)
		for j := 0; j < depth; j++ {
			p := fmt.Sprintf("backbone.stages.%d.blocks.%d.", i, j)
			b := &st.blocks[j]
			heads := st.heads
			tasks = append(tasks, func() error {
				var err error
				if b.norm1, err = getLN(p + "norm1"); err != nil {
					return err
				}
				if b.norm2, err = getLN(p + "norm2"); err != nil {
					return err
				}
				if b.qkv, err = getLinear(p+"attn.w_msa.qkv", true); err != nil {
					return err
				}
				if b.proj, err = getLinear(p+"attn.w_msa.proj", true); err != nil {
					return err
				}
				if b.fc1, err = getLinear(p+"ffn.layers.0.0", true); err != nil {
					return err
				}
				if b.fc2, err = getLinear(p+"ffn.layers.1", true); err != nil {
					return err
				}
				table, err := get(p + "attn.w_msa.relative_position_bias_table")
				if err != nil {
					return err
				}
				if err := CheckRelativePositionIndex(byName[p+"attn.w_msa.relative_position_index"], relIndex); err != nil {
					return err
				}
				b.bias = make([]float32, heads*nTok*nTok)
				for h := 0; h < heads; h++ {
					for q := 0; q < nTok*nTok; q++ {
						b.bias[h*nTok*nTok+q] = table[relIndex[q]*heads+h]
					}
				}
				return nil
			})
		}
		if i < len(arch.Depths)-1 {
			p := fmt.Sprintf("backbone.stages.%d.downsample.", i)
			d := new(merge)
			st.down = d
			tasks = append(tasks, func() error {
				var err error
				if d.norm, err = getLN(p + "norm"); err != nil {
					return err
				}
				d.red, err = getLinear(p+"reduction", false)
				return err
			})
		}
	}
	errs := make([]error, len(tasks))
	parallel.For(0, len(tasks), 1<<20, func(lo, hi int) {
		for t := lo; t < hi; t++ {
			errs[t] = tasks[t]()
		}
	})
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	for _, k := range outs {
		if m.norms[k], err = getLN(fmt.Sprintf("backbone.norm%d", k)); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// RelativePositionIndex returns the Swin relative position index of a w×w
// window: for window tokens i = (yi, xi) and j = (yj, xj) (row-major),
// index[i*w*w+j] = (yi-yj+w-1)*(2w-1) + (xi-xj+w-1), a row of the
// relative_position_bias_table.
func RelativePositionIndex(w int) []int {
	n := w * w
	idx := make([]int, n*n)
	for i := 0; i < n; i++ {
		yi, xi := i/w, i%w
		for j := 0; j < n; j++ {
			yj, xj := j/w, j%w
			idx[i*n+j] = (yi-yj+w-1)*(2*w-1) + (xi - xj + w - 1)
		}
	}
	return idx
}

// CheckRelativePositionIndex verifies a checkpoint's
// relative_position_index buffer (when present: t may be nil) against the
// standard one of RelativePositionIndex, which the forward pass (and the
// ONNX graph) use in its place.
func CheckRelativePositionIndex(t *ckpt.Tensor, want []int) error {
	if t == nil {
		return nil
	}
	n := int64(math.Sqrt(float64(len(want))))
	if !slices.Equal(t.Shape, []int64{n, n}) {
		return fmt.Errorf("tensor %s has shape %s, want [%d, %d]", t.Name, ckpt.ShapeString(t.Shape), n, n)
	}
	v, err := t.Float64()
	if err != nil {
		return err
	}
	for i, x := range v {
		if x != float64(want[i]) {
			return fmt.Errorf("tensor %s differs from the standard Swin relative position index at element %d (%v, want %d)", t.Name, i, x, want[i])
		}
	}
	return nil
}
