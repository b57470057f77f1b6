// Package onnxgraph builds the ONNX graph of a Swin backbone: the forward
// pass of internal/swin, under either of its semantics, for one input size
// fixed at build time and any batch.
//
// The graph takes "pixel_values", float32 (N, in_chans, H, W), normalised
// as glipctl forward normalises, N symbolic; it returns "stage{K}" for each
// output stage K, float32 (N, C, H', W'), in the order asked for. It uses
// only operators of the default domain that ONNX Runtime, OpenVINO and
// TensorRT all run:
//
//   - Conv for the patch embedding (the input zero-padded at the
//     bottom/right to a multiple of the patch by Conv's pads);
//   - LayerNormalization (epsilon 1e-5) at opset 17, and at opsets 13 to 16
//     its decomposition ReduceMean, Sub, Pow, ReduceMean, Add, Sqrt, Div,
//     Mul, Add (the pattern runtimes fuse back);
//   - the token map kept as (N, H, W, C); window partition, its reverse and
//     patch merging as Reshape and Transpose; padding as Pad; the cyclic
//     shift as Slice and Concat (never Roll); cropping as Slice;
//   - linear layers as MatMul by the transposed weight (a Transpose of the
//     initializer, which runtimes fold) and Add;
//   - the relative position bias of each block, expanded to (heads, T, T)
//     with T = window², and the shifted-window mask of each stage, (nW, 1,
//     T, T) with 0 and -100, as precomputed initializers;
//   - exact GELU as x * 0.5 * (1 + Erf(x / √2)); Softmax on the last axis.
//
// The weights are initializers under their mmpretrain names
// ("backbone.stages.0.blocks.0.attn.w_msa.qkv.weight"), in their
// checkpoint shapes, in float32 or float16; float16 ones are Cast to
// float32 where they are used, so every operation (LayerNorm, Softmax and
// the products included) runs in float32. The precomputed biases take the
// dtype of their table; the masks are float32. Stages after the last
// output stage are left out, with their weights.
//
// Which blocks shift, by how much, and where the map is padded follow
// swin.Semantics exactly: mmpretrain semantics shift odd blocks by
// window/2 unless the stage's map has min(H, W) == window, and refuse maps
// smaller than the window; glip semantics always shift odd blocks, the
// map padded to whole windows and the mask computed on the padded map. A
// missing norm0 is the identity under glip semantics and a LayerNorm of
// weight 1, bias 0 under mmpretrain's.
package onnxgraph

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/glipctl/glipctl/internal/ckpt"
	"github.com/glipctl/glipctl/internal/ckpt/onnx"
	"github.com/glipctl/glipctl/internal/swin"
)

// The opsets Build emits.
const (
	MinOpset     = 13
	MaxOpset     = 17
	DefaultOpset = 17
)

// IRVersion is the ONNX IR version of the models (what opset 17 needs).
const IRVersion = 8

// Input and output names.
const InputName = "pixel_values"

// OutputName returns the name of output stage k ("stage2").
func OutputName(k int) string { return "stage" + strconv.Itoa(k) }

// Options are the choices of Build.
type Options struct {
	// Height and Width are the input size (both required).
	Height, Width int
	// OutIndices are the output stages, in output order; nil means
	// swin.DefaultOutIndices.
	OutIndices []int
	// Semantics is swin.MMPretrain ("" too) or swin.GLIP.
	Semantics swin.Semantics
	// Opset is the default domain's opset, MinOpset..MaxOpset; 0 means
	// DefaultOpset.
	Opset int
	// ProducerVersion is glipctl's version.
	ProducerVersion string
	// Metadata is appended to the model's metadata_props after Build's
	// own entries (arch, semantics, input_size, out_indices).
	Metadata []onnx.StringEntry
}

// OpsetError is an opset outside MinOpset..MaxOpset.
type OpsetError struct{ Opset int }

func (e *OpsetError) Error() string {
	return fmt.Sprintf("opset %d is not supported (want %d..%d)", e.Opset, MinOpset, MaxOpset)
}

// Build returns the ONNX model of the Swin backbone whose tensors (mmpretrain
// names, "backbone." prefix optional; tensors that are not part of the
// backbone are ignored) are given. The tensors' data is read only for the
// relative position tables (and index buffers, checked against the
// standard index); the model's initializers read the rest when written.
func Build(tensors []*ckpt.Tensor, opts Options) (*onnx.Model, error) {
	opset := opts.Opset
	if opset == 0 {
		opset = DefaultOpset
	}
	if opset < MinOpset || opset > MaxOpset {
		return nil, &OpsetError{opset}
	}
	sem := opts.Semantics
	if sem == "" {
		sem = swin.MMPretrain
	}
	if sem != swin.MMPretrain && sem != swin.GLIP {
		return nil, fmt.Errorf("unknown semantics %q (want mmpretrain or glip)", sem)
	}
	byName := map[string]*ckpt.Tensor{}
	shapes := map[string][]int64{}
	for _, t := range tensors {
		n := t.Name
		if !strings.HasPrefix(n, "backbone.") {
			n = "backbone." + n
		}
		if _, dup := byName[n]; dup && n != t.Name {
			continue
		}
		cp := *t
		cp.Name = n
		byName[n] = &cp
		shapes[n] = t.Shape
	}
	arch, err := swin.ArchFromShapes(shapes)
	if err != nil {
		return nil, err
	}
	if arch.PatchSize <= 0 || arch.InChans <= 0 || arch.MLPRatio <= 0 || arch.Window <= 0 {
		return nil, fmt.Errorf("implausible architecture (%s, patch %d, in_chans %d, mlp ratio %d)", arch, arch.PatchSize, arch.InChans, arch.MLPRatio)
	}
	outs := opts.OutIndices
	if outs == nil {
		outs = swin.DefaultOutIndices
	}
	if len(outs) == 0 {
		return nil, fmt.Errorf("no output stages requested")
	}
	var norms []int
	for k := range arch.Depths {
		if _, ok := byName[fmt.Sprintf("backbone.norm%d.weight", k)]; ok {
			norms = append(norms, k)
		}
	}
	for i, k := range outs {
		if k < 0 || k >= len(arch.Depths) {
			return nil, fmt.Errorf("output stage %d out of range: the model has stages 0..%d", k, len(arch.Depths)-1)
		}
		if slices.Contains(outs[:i], k) {
			return nil, fmt.Errorf("output stage %d requested twice", k)
		}
		if !slices.Contains(norms, k) && k != 0 {
			return nil, fmt.Errorf("output stage %d: the weights have no backbone.norm%d", k, k)
		}
	}
	if opts.Height <= 0 || opts.Width <= 0 {
		return nil, fmt.Errorf("input size %dx%d is empty", opts.Height, opts.Width)
	}
	if err := arch.CheckSize(opts.Height, opts.Width, sem); err != nil {
		return nil, err
	}
	want := map[string][]int64{}
	for _, ks := range arch.ExpectedKeys(norms) {
		want[ks.Name] = ks.Shape
	}
	g := &graph{arch: arch, opset: opset, byName: byName, want: want,
		consts: map[string]string{}, f32: map[string]string{}, wT: map[string]string{}}
	if err := g.build(opts.Height, opts.Width, sem, outs, norms); err != nil {
		return nil, err
	}

	archJSON, _ := json.Marshal(arch)
	outJSON, _ := json.Marshal(outs)
	md := []onnx.StringEntry{
		{Key: "arch", Value: string(archJSON)},
		{Key: "semantics", Value: string(sem)},
		{Key: "input_size", Value: fmt.Sprintf("%dx%d", opts.Height, opts.Width)},
		{Key: "out_indices", Value: string(outJSON)},
	}
	md = append(md, opts.Metadata...)
	m := &onnx.Model{
		IRVersion:       IRVersion,
		ProducerName:    "glipctl",
		ProducerVersion: opts.ProducerVersion,
		Graph: onnx.Graph{
			Name:         "swin_backbone",
			Nodes:        g.nodes,
			Initializers: g.inits,
			Inputs: []onnx.ValueInfo{{Name: InputName, ElemType: onnx.Float,
				Shape: []onnx.Dim{{Param: "N"}, {Value: int64(arch.InChans)}, {Value: int64(opts.Height)}, {Value: int64(opts.Width)}}}},
		},
		Opsets:   []onnx.OperatorSet{{Version: int64(opset)}},
		Metadata: md,
	}
	sizes := arch.StageSizes(opts.Height, opts.Width)
	for _, k := range outs {
		m.Graph.Outputs = append(m.Graph.Outputs, onnx.ValueInfo{Name: OutputName(k), ElemType: onnx.Float,
			Shape: []onnx.Dim{{Param: "N"}, {Value: int64(arch.EmbedDim << k)}, {Value: int64(sizes[k][0])}, {Value: int64(sizes[k][1])}}})
	}
	return m, nil
}

// graph accumulates the nodes and initializers of a model.
type graph struct {
	arch   swin.Arch
	opset  int
	byName map[string]*ckpt.Tensor
	want   map[string][]int64
	nodes  []onnx.Node
	inits  []*ckpt.Tensor
	consts map[string]string // key of a constant -> its name
	f32    map[string]string // weight -> its float32 value
	wT     map[string]string // weight -> its transposed float32 value
	scope  string
	count  int
}

// node adds a node with one output and returns the output's name (out, or
// a fresh name when out is "").
func (g *graph) node(op string, out string, ins []string, attrs ...onnx.Attribute) string {
	g.count++
	name := fmt.Sprintf("%s/%s_%d", g.scope, op, g.count)
	if out == "" {
		out = name
	}
	g.nodes = append(g.nodes, onnx.Node{Inputs: ins, Outputs: []string{out}, Name: name, OpType: op, Attrs: attrs})
	return out
}

func (g *graph) op(op string, ins ...string) string { return g.node(op, "", ins) }

// addInit adds an initializer.
func (g *graph) addInit(t *ckpt.Tensor) { g.inits = append(g.inits, t) }

// constant returns the name of a constant initializer, adding it once.
func (g *graph) constant(key string, make func(name string) *ckpt.Tensor) string {
	if n, ok := g.consts[key]; ok {
		return n
	}
	name := "const." + key
	g.consts[key] = name
	g.addInit(make(name))
	return name
}

// ints is a 1-D int64 constant.
func (g *graph) ints(v ...int64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.FormatInt(x, 10)
	}
	return g.constant("i64_"+strings.Join(s, "_"), func(name string) *ckpt.Tensor {
		raw := make([]byte, 8*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint64(raw[8*i:], uint64(x))
		}
		t, _ := ckpt.FromBytes(name, ckpt.I64, []int64{int64(len(v))}, raw)
		return t
	})
}

// scalarInt is a rank-0 int64 constant.
func (g *graph) scalarInt(v int64) string {
	return g.constant("i64s_"+strconv.FormatInt(v, 10), func(name string) *ckpt.Tensor {
		raw := binary.LittleEndian.AppendUint64(nil, uint64(v))
		t, _ := ckpt.FromBytes(name, ckpt.I64, []int64{}, raw)
		return t
	})
}

// scalar is a rank-0 float32 constant.
func (g *graph) scalar(v float32) string {
	return g.constant("f32_"+strconv.FormatUint(uint64(math.Float32bits(v)), 16), func(name string) *ckpt.Tensor {
		t, _ := ckpt.FromFloat32(name, []int64{}, []float32{v})
		return t
	})
}

// fill is a 1-D float32 constant of n copies of v.
func (g *graph) fill(n int, v float32) string {
	return g.constant(fmt.Sprintf("fill_%d_%x", n, math.Float32bits(v)), func(name string) *ckpt.Tensor {
		vals := make([]float32, n)
		for i := range vals {
			vals[i] = v
		}
		t, _ := ckpt.FromFloat32(name, []int64{int64(n)}, vals)
		return t
	})
}

// tensor returns the checkpoint tensor name, checked against its expected
// shape and dtype.
func (g *graph) tensor(name string) (*ckpt.Tensor, error) {
	t, ok := g.byName[name]
	if !ok {
		return nil, fmt.Errorf("missing tensor %s", name)
	}
	if ws, ok := g.want[name]; ok && !slices.Equal(t.Shape, ws) {
		return nil, fmt.Errorf("tensor %s has shape %s, want %s", name, ckpt.ShapeString(t.Shape), ckpt.ShapeString(ws))
	}
	if t.DType != ckpt.F32 && t.DType != ckpt.F16 {
		return nil, fmt.Errorf("tensor %s has dtype %s; an ONNX graph takes F32 or F16 weights", name, t.DType)
	}
	return t, nil
}

// weight returns the float32 value of a weight, adding it as an
// initializer (and a Cast from float16) the first time.
func (g *graph) weight(name string) (string, error) {
	if v, ok := g.f32[name]; ok {
		return v, nil
	}
	t, err := g.tensor(name)
	if err != nil {
		return "", err
	}
	g.addInit(t)
	v := name
	if t.DType != ckpt.F32 {
		v = g.node("Cast", name+".f32", []string{name}, onnx.IntAttr("to", int64(onnx.Float)))
	}
	g.f32[name] = v
	return v, nil
}

// weightT returns the transposed float32 value of a 2-D weight.
func (g *graph) weightT(name string) (string, error) {
	if v, ok := g.wT[name]; ok {
		return v, nil
	}
	w, err := g.weight(name)
	if err != nil {
		return "", err
	}
	v := g.node("Transpose", name+".T", []string{w}, onnx.IntsAttr("perm", 1, 0))
	g.wT[name] = v
	return v, nil
}

// linear is x·Wᵀ (+ b) over the last axis.
func (g *graph) linear(x, prefix string, bias bool) (string, error) {
	w, err := g.weightT(prefix + ".weight")
	if err != nil {
		return "", err
	}
	y := g.op("MatMul", x, w)
	if !bias {
		return y, nil
	}
	b, err := g.weight(prefix + ".bias")
	if err != nil {
		return "", err
	}
	return g.op("Add", y, b), nil
}

// layerNorm normalises x over its last axis (c values) with the norm at
// prefix ("" for weight 1, bias 0).
func (g *graph) layerNorm(x, prefix string, c int) (string, error) {
	var w, b string
	if prefix != "" {
		var err error
		if w, err = g.weight(prefix + ".weight"); err != nil {
			return "", err
		}
		if b, err = g.weight(prefix + ".bias"); err != nil {
			return "", err
		}
	}
	if g.opset >= 17 {
		if prefix == "" {
			w, b = g.fill(c, 1), g.fill(c, 0)
		}
		return g.node("LayerNormalization", "", []string{x, w, b},
			onnx.IntAttr("axis", -1), onnx.FloatAttr("epsilon", 1e-5)), nil
	}
	axes := onnx.IntsAttr("axes", -1)
	mean := g.node("ReduceMean", "", []string{x}, axes, onnx.IntAttr("keepdims", 1))
	d := g.op("Sub", x, mean)
	v := g.node("ReduceMean", "", []string{g.op("Pow", d, g.scalar(2))}, axes, onnx.IntAttr("keepdims", 1))
	y := g.op("Div", d, g.op("Sqrt", g.op("Add", v, g.scalar(1e-5))))
	if prefix == "" {
		return y, nil
	}
	return g.op("Add", g.op("Mul", y, w), b), nil
}

// slice takes [start, end) of axis.
func (g *graph) slice(x string, axis, start, end int) string {
	return g.op("Slice", x, g.ints(int64(start)), g.ints(int64(end)), g.ints(int64(axis)))
}

// roll is torch.roll(x, s, axis) for an axis of size n (0 < |s| < n).
func (g *graph) roll(x string, axis, n, s int) string {
	s = ((s % n) + n) % n
	if s == 0 {
		return x
	}
	return g.node("Concat", "", []string{g.slice(x, axis, n-s, n), g.slice(x, axis, 0, n-s)}, onnx.IntAttr("axis", int64(axis)))
}

func (g *graph) reshape(x string, shape ...int64) string { return g.op("Reshape", x, g.ints(shape...)) }

func (g *graph) transpose(x string, perm ...int64) string {
	return g.node("Transpose", "", []string{x}, onnx.IntsAttr("perm", perm...))
}

// pad zero-pads the (N, H, W, C) map x at the bottom by ph and at the right
// by pw.
func (g *graph) pad(x string, ph, pw int) string {
	if ph == 0 && pw == 0 {
		return x
	}
	return g.op("Pad", x, g.ints(0, 0, 0, 0, 0, int64(ph), int64(pw), 0))
}

func (g *graph) build(h, w int, sem swin.Semantics, outs, norms []int) error {
	a := g.arch
	p := a.PatchSize
	last := slices.Max(outs)

	// Patch embedding.
	g.scope = "patch_embed"
	pw, err := g.weight("backbone.patch_embed.projection.weight")
	if err != nil {
		return err
	}
	pb, err := g.weight("backbone.patch_embed.projection.bias")
	if err != nil {
		return err
	}
	sizes := a.StageSizes(h, w)
	hh, ww := sizes[0][0], sizes[0][1]
	x := g.node("Conv", "", []string{InputName, pw, pb},
		onnx.IntsAttr("kernel_shape", int64(p), int64(p)), onnx.IntsAttr("strides", int64(p), int64(p)),
		onnx.IntsAttr("pads", 0, 0, int64(hh*p-h), int64(ww*p-w)))
	x = g.transpose(x, 0, 2, 3, 1)
	if x, err = g.layerNorm(x, "backbone.patch_embed.norm", a.EmbedDim); err != nil {
		return err
	}

	win := a.Window
	relIndex := swin.RelativePositionIndex(win)
	for i := 0; i <= last; i++ {
		c := a.EmbedDim << i
		heads := a.Heads[i]
		hh, ww := sizes[i][0], sizes[i][1]
		mask := ""
		for j := 0; j < a.Depths[i]; j++ {
			pre := fmt.Sprintf("backbone.stages.%d.blocks.%d.", i, j)
			g.scope = strings.TrimPrefix(pre, "backbone.")
			g.scope = strings.TrimSuffix(g.scope, ".")
			shift := shiftFor(a, j, hh, ww, sem)
			bias, err := g.relBias(pre+"attn.w_msa.", heads, relIndex)
			if err != nil {
				return err
			}
			m := ""
			if shift > 0 {
				if mask == "" {
					mask = g.shiftMask(i, hh, ww, shift)
				}
				m = mask
			}
			if x, err = g.block(x, pre, hh, ww, c, heads, shift, bias, m); err != nil {
				return err
			}
		}
		if oi := slices.Index(outs, i); oi >= 0 {
			g.scope = fmt.Sprintf("norm%d", i)
			y := x
			switch {
			case slices.Contains(norms, i):
				y, err = g.layerNorm(x, fmt.Sprintf("backbone.norm%d", i), c)
			case sem == swin.GLIP: // GLIP's missing norm0: identity
			default: // mmpretrain's missing norm0: LayerNorm(1, 0)
				y, err = g.layerNorm(x, "", c)
			}
			if err != nil {
				return err
			}
			g.node("Transpose", OutputName(i), []string{y}, onnx.IntsAttr("perm", 0, 3, 1, 2))
		}
		if i < last {
			g.scope = fmt.Sprintf("stages.%d.downsample", i)
			if x, err = g.merge(x, fmt.Sprintf("backbone.stages.%d.downsample.", i), hh, ww, c); err != nil {
				return err
			}
		}
	}
	return nil
}

// shiftFor is swin's shift rule: block j of a stage whose map is h×w.
func shiftFor(a swin.Arch, j, h, w int, sem swin.Semantics) int {
	if j%2 == 0 {
		return 0
	}
	if sem != swin.GLIP && min(h, w) == a.Window {
		return 0
	}
	return a.Window / 2
}

// relBias adds the block's relative position bias, expanded to (heads, T,
// T) from its table, in the table's dtype.
func (g *graph) relBias(pre string, heads int, relIndex []int) (string, error) {
	tbl, err := g.tensor(pre + "relative_position_bias_table")
	if err != nil {
		return "", err
	}
	if err := swin.CheckRelativePositionIndex(g.byName[pre+"relative_position_index"], relIndex); err != nil {
		return "", err
	}
	raw, err := tbl.ReadAll()
	if err != nil {
		return "", err
	}
	es := tbl.DType.Size()
	nn := len(relIndex)
	out := make([]byte, heads*nn*es)
	for hd := 0; hd < heads; hd++ {
		for q, r := range relIndex {
			s := (r*heads + hd) * es
			copy(out[(hd*nn+q)*es:], raw[s:s+es])
		}
	}
	t := int64(math.Sqrt(float64(nn)))
	name := pre + "relative_position_bias"
	bt, err := ckpt.FromBytes(name, tbl.DType, []int64{int64(heads), t, t}, out)
	if err != nil {
		return "", err
	}
	g.addInit(bt)
	if tbl.DType == ckpt.F32 {
		return name, nil
	}
	return g.node("Cast", name+".f32", []string{name}, onnx.IntAttr("to", int64(onnx.Float))), nil
}

// shiftMask adds stage i's shifted-window mask, (nW, 1, T, T): -100
// between tokens of different regions of the shifted, padded map.
func (g *graph) shiftMask(i, h, w, shift int) string {
	win := g.arch.Window
	hp, wp := (h+win-1)/win*win, (w+win-1)/win*win
	region := func(v, size int) int {
		switch {
		case v < size-win:
			return 0
		case v < size-shift:
			return 1
		}
		return 2
	}
	nwy, nwx := hp/win, wp/win
	nt := win * win
	vals := make([]float32, nwy*nwx*nt*nt)
	lab := make([]int, nt)
	for wy := 0; wy < nwy; wy++ {
		for wx := 0; wx < nwx; wx++ {
			for t := 0; t < nt; t++ {
				lab[t] = region(wy*win+t/win, hp)*3 + region(wx*win+t%win, wp)
			}
			base := (wy*nwx + wx) * nt * nt
			for a := 0; a < nt; a++ {
				for b := 0; b < nt; b++ {
					if lab[a] != lab[b] {
						vals[base+a*nt+b] = -100
					}
				}
			}
		}
	}
	name := fmt.Sprintf("stages.%d.attn_mask", i)
	t, _ := ckpt.FromFloat32(name, []int64{int64(nwy * nwx), 1, int64(nt), int64(nt)}, vals)
	g.addInit(t)
	return name
}

// block is one Swin block on the (N, h, w, c) map x:
// x += attn(norm1(x)); x += mlp(norm2(x)).
func (g *graph) block(x, pre string, h, w, c, heads, shift int, bias, mask string) (string, error) {
	win := g.arch.Window
	hp, wp := (h+win-1)/win*win, (w+win-1)/win*win
	nwy, nwx := hp/win, wp/win
	nt := int64(win * win)
	hd := c / heads
	t, err := g.layerNorm(x, pre+"norm1", c)
	if err != nil {
		return "", err
	}
	t = g.pad(t, hp-h, wp-w)
	if shift > 0 {
		t = g.roll(g.roll(t, 1, hp, -shift), 2, wp, -shift)
	}
	t = g.reshape(t, -1, int64(nwy), int64(win), int64(nwx), int64(win), int64(c))
	t = g.transpose(t, 0, 1, 3, 2, 4, 5)
	t = g.reshape(t, -1, nt, int64(c))
	qkv, err := g.linear(t, pre+"attn.w_msa.qkv", true)
	if err != nil {
		return "", err
	}
	qkv = g.reshape(qkv, -1, nt, 3, int64(heads), int64(hd))
	qkv = g.transpose(qkv, 2, 0, 3, 1, 4) // (3, B, heads, T, hd)
	pick := func(k int64) string {
		return g.node("Gather", "", []string{qkv, g.scalarInt(k)}, onnx.IntAttr("axis", 0))
	}
	q := g.op("Mul", pick(0), g.scalar(float32(1/math.Sqrt(float64(hd)))))
	k := g.transpose(pick(1), 0, 1, 3, 2)
	v := pick(2)
	s := g.op("Add", g.op("MatMul", q, k), bias)
	if mask != "" {
		s = g.reshape(s, -1, int64(nwy*nwx), int64(heads), nt, nt)
		s = g.op("Add", s, mask)
		s = g.reshape(s, -1, int64(heads), nt, nt)
	}
	s = g.node("Softmax", "", []string{s}, onnx.IntAttr("axis", -1))
	o := g.op("MatMul", s, v)
	o = g.transpose(o, 0, 2, 1, 3)
	o = g.reshape(o, -1, nt, int64(c))
	if o, err = g.linear(o, pre+"attn.w_msa.proj", true); err != nil {
		return "", err
	}
	o = g.reshape(o, -1, int64(nwy), int64(nwx), int64(win), int64(win), int64(c))
	o = g.transpose(o, 0, 1, 3, 2, 4, 5)
	o = g.reshape(o, -1, int64(hp), int64(wp), int64(c))
	if shift > 0 {
		o = g.roll(g.roll(o, 1, hp, shift), 2, wp, shift)
	}
	if hp > h || wp > w {
		o = g.op("Slice", o, g.ints(0, 0), g.ints(int64(h), int64(w)), g.ints(1, 2))
	}
	x = g.op("Add", x, o)

	t, err = g.layerNorm(x, pre+"norm2", c)
	if err != nil {
		return "", err
	}
	if t, err = g.linear(t, pre+"ffn.layers.0.0", true); err != nil {
		return "", err
	}
	erf := g.op("Erf", g.op("Div", t, g.scalar(float32(math.Sqrt2))))
	t = g.op("Mul", g.op("Mul", t, g.op("Add", erf, g.scalar(1))), g.scalar(0.5))
	if t, err = g.linear(t, pre+"ffn.layers.1", true); err != nil {
		return "", err
	}
	return g.op("Add", x, t), nil
}

// merge is the patch merging of the (N, h, w, c) map x: 2×2 neighbourhoods
// (the map zero-padded to even sides) concatenated in nn.Unfold's
// channel-major order, normalised and reduced to 2c.
func (g *graph) merge(x, pre string, h, w, c int) (string, error) {
	h2, w2 := (h+1)/2, (w+1)/2
	x = g.pad(x, 2*h2-h, 2*w2-w)
	x = g.reshape(x, -1, int64(h2), 2, int64(w2), 2, int64(c))
	x = g.transpose(x, 0, 1, 3, 5, 2, 4)
	x = g.reshape(x, -1, int64(h2), int64(w2), int64(4*c))
	x, err := g.layerNorm(x, pre+"norm", 4*c)
	if err != nil {
		return "", err
	}
	return g.linear(x, pre+"reduction", false)
}
