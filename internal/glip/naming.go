package glip

import (
	"encoding/binary"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/glipctl/glipctl/internal/ckpt"
)

// Op is what a layout's name map does to a tensor's values between the
// canonical (mmpretrain) tensor and the layout's.
type Op int

// The operations of the layouts' name maps.
const (
	// OpRename keeps the values.
	OpRename Op = iota
	// OpMerge is a patch-merging tensor whose last axis is in GLIP's
	// concatenation order (x0, x1, x2, x3) in the layout and in nn.Unfold's
	// order canonically (ReorderMerge).
	OpMerge
	// OpQKV is one third of the fused qkv weight or bias: rows
	// [Part*C, (Part+1)*C) of the canonical tensor.
	OpQKV
	// OpFlatten is the relative_position_index buffer stored flattened
	// (N*N) in the layout and as (N, N) canonically.
	OpFlatten
)

// Slot is where a canonical tensor goes in a layout: its name, the
// operation, and for OpQKV which part (0 query, 1 key, 2 value).
type Slot struct {
	Name string
	Op   Op
	Part int
}

// naming is a layout's name map, both ways, from rule tables: the patch
// embedding, the blocks, the patch mergings and the per-stage norms.
type naming struct {
	layout Layout
	// patch maps the canonical names under "backbone.patch_embed." to the
	// layout's full names.
	patch map[string]string
	// blockPrefix is the layout's prefix of block j of stage i; blockRe
	// parses a layout name of a block into i, j and the rest.
	blockPrefix func(i, j int) string
	blockRe     matcher
	// block maps a canonical block suffix ("attn.w_msa.qkv.weight") to its
	// slots (none: the layout has no slot for it).
	block map[string][]Slot
	// downPrefix is the layout's prefix of the patch merging at the end of
	// stage i; downRe parses one into i and the rest, downShift is added to
	// the parsed index to get the canonical stage (timm's new layout puts
	// stage i's merging at the start of stage i+1).
	downPrefix func(i int) string
	downRe     matcher
	downShift  int
	down       map[string]Slot
	// norm gives the layout's name of the per-stage norm after stage k of
	// a backbone with stages stages ("" when there is no slot).
	norm func(k, stages int) string
}

// matcher parses a name into submatches (a *regexp.Regexp, or a parser
// that computes indices).
type matcher interface {
	FindStringSubmatch(s string) []string
}

var canonBlockRe = regexp.MustCompile(`^backbone\.stages\.(\d+)\.blocks\.(\d+)\.(.+)$`)
var canonDownRe = regexp.MustCompile(`^backbone\.stages\.(\d+)\.downsample\.(.+)$`)
var canonNormRe = regexp.MustCompile(`^backbone\.norm(\d+)\.(weight|bias)$`)

// slots returns the layout's slots of canonical name n in a backbone of
// the given number of stages; ok is false for a name that is no backbone
// name, and slots is empty for one the layout has no slot for.
func (nm *naming) slots(n string, stages int) (slots []Slot, ok bool) {
	if r, found := strings.CutPrefix(n, "backbone.patch_embed."); found {
		if t, ok := nm.patch[r]; ok {
			return []Slot{{Name: t}}, true
		}
		return nil, false
	}
	if m := canonBlockRe.FindStringSubmatch(n); m != nil {
		i, _ := strconv.Atoi(m[1])
		j, _ := strconv.Atoi(m[2])
		ss, ok := nm.block[m[3]]
		if !ok {
			return nil, false
		}
		out := make([]Slot, len(ss))
		for k, s := range ss {
			s.Name = nm.blockPrefix(i, j) + s.Name
			out[k] = s
		}
		return out, true
	}
	if m := canonDownRe.FindStringSubmatch(n); m != nil {
		i, _ := strconv.Atoi(m[1])
		s, ok := nm.down[m[2]]
		if !ok {
			return nil, false
		}
		s.Name = nm.downPrefix(i) + s.Name
		return []Slot{s}, true
	}
	if m := canonNormRe.FindStringSubmatch(n); m != nil {
		k, _ := strconv.Atoi(m[1])
		if p := nm.norm(k, stages); p != "" {
			return []Slot{{Name: p + "." + m[2]}}, true
		}
		return nil, true
	}
	return nil, false
}

// canonical maps a layout name back: the canonical name and the slot it
// fills; ok is false for a name that is none of the layout's backbone
// names.
func (nm *naming) canonical(n string, stages int) (canon string, s Slot, ok bool) {
	for k, t := range nm.patch {
		if t == n {
			return "backbone.patch_embed." + k, Slot{Name: n}, true
		}
	}
	if m := nm.blockRe.FindStringSubmatch(n); m != nil {
		for suffix, ss := range nm.block {
			for _, s := range ss {
				if s.Name == m[3] {
					s.Name = n
					return "backbone.stages." + m[1] + ".blocks." + m[2] + "." + suffix, s, true
				}
			}
		}
	}
	if m := nm.downRe.FindStringSubmatch(n); m != nil {
		i, _ := strconv.Atoi(m[1])
		for suffix, s := range nm.down {
			if s.Name == m[2] && i+nm.downShift >= 0 {
				s.Name = n
				return fmt.Sprintf("backbone.stages.%d.downsample.%s", i+nm.downShift, suffix), s, true
			}
		}
	}
	for k := 0; k < stages; k++ {
		p := nm.norm(k, stages)
		if p == "" {
			continue
		}
		for _, wb := range []string{"weight", "bias"} {
			if n == p+"."+wb {
				return fmt.Sprintf("backbone.norm%d.%s", k, wb), Slot{Name: n}, true
			}
		}
	}
	return "", Slot{}, false
}

// stagesOf counts the stages a layout's block names show (the largest
// stage index plus one).
func (nm *naming) stagesOf(names []string) int {
	n := 0
	for _, k := range names {
		if m := nm.blockRe.FindStringSubmatch(k); m != nil {
			if i, err := strconv.Atoi(m[1]); err == nil && i+1 > n {
				n = i + 1
			}
		}
	}
	return n
}

// canonStages counts the stages of canonical names.
func canonStages(names []string) int {
	n := 0
	for _, k := range names {
		if m := canonBlockRe.FindStringSubmatch(k); m != nil {
			if i, err := strconv.Atoi(m[1]); err == nil && i+1 > n {
				n = i + 1
			}
		}
	}
	return n
}

// ExportOptions are the choices of Export.
type ExportOptions struct {
	// RGB reverses the input channels of the patch embedding
	// (patch_embed.projection.weight), so the layout's model takes RGB
	// where GLIP takes BGR.
	RGB bool
}

// Export names the canonical backbone tensors (mmpretrain names, GLIP's
// values in mmpretrain's order, as Backbone.Tensors gives them) in layout
// l: the layout's tensors in canonical order (a fused qkv becomes its
// query, key and value), each Mapping's From the canonical name, and the
// canonical tensors the layout has no slot for. Values are computed only
// when an output tensor is read.
func Export(l Layout, canon []*ckpt.Tensor, opts ExportOptions) (kept []Mapping, noSlot []*ckpt.Tensor, err error) {
	nm, err := namingOf(l, nil)
	if err != nil {
		return nil, nil, err
	}
	names := make([]string, len(canon))
	for i, t := range canon {
		names[i] = t.Name
	}
	stages := canonStages(names)
	for _, t := range canon {
		slots, ok := nm.slots(t.Name, stages)
		if !ok || len(slots) == 0 {
			noSlot = append(noSlot, t)
			continue
		}
		src := t
		if opts.RGB && t.Name == patchWeight {
			if src, err = newChannelReverse(t); err != nil {
				return nil, nil, err
			}
		}
		for _, s := range slots {
			out, tr, err := toSlot(src, s)
			if err != nil {
				return nil, nil, err
			}
			if src != t {
				tr = Permuted
			}
			kept = append(kept, Mapping{From: t.Name, To: s.Name, Transform: tr, Tensor: out})
		}
	}
	return kept, noSlot, nil
}

// patchWeight is the canonical name of the patch embedding's weight, the
// tensor whose input channels an RGB export reverses.
const patchWeight = "backbone.patch_embed.projection.weight"

// Import maps a state dict in layout l (container prefix removed) to the
// canonical backbone: Mappings in file order, From the layout name (for a
// joined qkv the query's, Sources all three), To the canonical name, the
// tensor with canonical values; and the tensors that are no backbone
// tensors of the layout. rgb undoes an RGB export's channel reversal.
func Import(l Layout, sd []*ckpt.Tensor, rgb bool) (kept []Mapping, dropped []*ckpt.Tensor, err error) {
	names := make([]string, len(sd))
	for i, t := range sd {
		names[i] = t.Name
	}
	nm, err := namingOf(l, names)
	if err != nil {
		return nil, nil, err
	}
	stages := nm.stagesOf(names)
	type qkvParts struct {
		at    int // index in kept
		parts [3]*ckpt.Tensor
	}
	qkv := map[string]*qkvParts{}
	for _, t := range sd {
		canon, s, ok := nm.canonical(t.Name, stages)
		if !ok {
			dropped = append(dropped, t)
			continue
		}
		switch s.Op {
		case OpQKV:
			q := qkv[canon]
			if q == nil {
				q = &qkvParts{at: len(kept)}
				qkv[canon] = q
				kept = append(kept, Mapping{From: t.Name, To: canon, Transform: Joined})
			}
			if q.parts[s.Part] != nil {
				return nil, nil, fmt.Errorf("tensor %q appears twice", t.Name)
			}
			q.parts[s.Part] = t
			continue
		}
		out, tr, err := fromSlot(t, s, canon)
		if err != nil {
			return nil, nil, err
		}
		if rgb && canon == patchWeight {
			if out, err = newChannelReverse(out); err != nil {
				return nil, nil, err
			}
			tr = Permuted
		}
		kept = append(kept, Mapping{From: t.Name, To: canon, Transform: tr, Tensor: out})
	}
	for canon, q := range qkv {
		m := &kept[q.at]
		for p, t := range q.parts {
			if t == nil {
				return nil, nil, fmt.Errorf("%s: its %s part is missing (tensor %s)", canon, [3]string{"query", "key", "value"}[p], nameOfPart(nm, canon, p, stages))
			}
			m.Sources = append(m.Sources, t.Name)
		}
		if m.Tensor, err = joinQKV(canon, q.parts); err != nil {
			return nil, nil, err
		}
	}
	if len(nm.block["attn.w_msa.relative_position_index"]) == 0 {
		if kept, err = addRelIndex(kept); err != nil {
			return nil, nil, err
		}
	}
	return kept, dropped, nil
}

// addRelIndex puts the relative_position_index buffer, which a layout
// without a slot for it (timm) does not store, after each block's
// relative_position_bias_table: the standard index of the table's window,
// as int64 (the buffer of GLIP's checkpoints).
func addRelIndex(kept []Mapping) ([]Mapping, error) {
	const table = ".relative_position_bias_table"
	var out []Mapping
	for _, m := range kept {
		out = append(out, m)
		base, ok := strings.CutSuffix(m.To, table)
		if !ok || !strings.HasPrefix(m.To, "backbone.stages.") {
			continue
		}
		t := m.Tensor
		side := int64(0)
		if len(t.Shape) == 2 {
			side = isqrt(t.Shape[0])
		}
		if side == 0 || side*side != t.Shape[0] || side%2 == 0 {
			return nil, fmt.Errorf("tensor %q has shape %s, not ((2*window-1)^2, heads)", m.From, ckpt.ShapeString(t.Shape))
		}
		w := int((side + 1) / 2)
		idx := RelativePositionIndex(w)
		raw := make([]byte, 8*len(idx))
		for i, v := range idx {
			binary.LittleEndian.PutUint64(raw[8*i:], uint64(v))
		}
		name := base + ".relative_position_index"
		it, err := ckpt.FromBytes(name, ckpt.I64, []int64{int64(w * w), int64(w * w)}, raw)
		if err != nil {
			return nil, err
		}
		out = append(out, Mapping{To: name, Transform: Generated, Tensor: it})
	}
	return out, nil
}

func nameOfPart(nm *naming, canon string, p, stages int) string {
	ss, _ := nm.slots(canon, stages)
	for _, s := range ss {
		if s.Op == OpQKV && s.Part == p {
			return s.Name
		}
	}
	return "?"
}

// Key is a tensor name with its shape.
type Key struct {
	Name  string
	Shape []int64
}

// LayoutKeys maps the canonical keys of a backbone (swin.Arch.ExpectedKeys:
// mmpretrain names and shapes, in order) to layout l: the layout's names
// and shapes, and the canonical names the layout has no slot for.
func LayoutKeys(l Layout, canon []Key) (keys []Key, noSlot []string, err error) {
	switch l {
	case LayoutMMPretrain, LayoutMMDet:
		return canon, nil, nil
	case LayoutOfficial:
		for _, k := range canon {
			n, _, _ := OfficialName(k.Name)
			keys = append(keys, Key{Name: n, Shape: k.Shape})
		}
		return keys, nil, nil
	}
	nm, err := namingOf(l, nil)
	if err != nil {
		return nil, nil, err
	}
	names := make([]string, len(canon))
	for i, k := range canon {
		names[i] = k.Name
	}
	stages := canonStages(names)
	for _, k := range canon {
		slots, _ := nm.slots(k.Name, stages)
		if len(slots) == 0 {
			noSlot = append(noSlot, k.Name)
		}
		for _, s := range slots {
			keys = append(keys, Key{Name: s.Name, Shape: slotShape(k.Shape, s)})
		}
	}
	return keys, noSlot, nil
}

func slotShape(shape []int64, s Slot) []int64 {
	switch s.Op {
	case OpQKV:
		out := append([]int64{}, shape...)
		out[0] /= 3
		return out
	case OpFlatten:
		if len(shape) == 2 {
			return []int64{shape[0] * shape[1]}
		}
	}
	return shape
}

// NoSlotNames returns the canonical names of ts (sorted), for reports.
func NoSlotNames(ts []*ckpt.Tensor) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.Name
	}
	sort.Strings(out)
	return out
}

// namingOf returns the name map of an ecosystem layout; names (a state
// dict's keys, or nil when writing) settle the variants a layout has
// (timm's two places of the patch merging).
func namingOf(l Layout, names []string) (*naming, error) {
	switch l {
	case LayoutTorchvision:
		return torchvisionNaming, nil
	case LayoutTimm:
		if names != nil && TimmMoved(names) {
			return timmMovedNaming, nil
		}
		return timmNaming, nil
	case LayoutHF:
		return hfBackboneNaming, nil
	case LayoutHFModel:
		return hfModelNaming, nil
	}
	return nil, fmt.Errorf("layout %q has no ecosystem name map", l)
}

// HasSlot tells whether layout l has a place for canonical name n in a
// backbone of the given number of stages (every backbone name has one in
// the official, mmpretrain and mmdet layouts).
func HasSlot(l Layout, n string, stages int) bool {
	nm, err := namingOf(l, nil)
	if err != nil {
		return true
	}
	ss, ok := nm.slots(n, stages)
	return !ok || len(ss) > 0
}

// RelativePositionIndex is the Swin relative position index of a w x w
// window, the buffer GLIP's checkpoints store: for window tokens
// i = (yi, xi) and j = (yj, xj), row-major, index[i*w*w+j] =
// (yi-yj+w-1)*(2w-1) + (xi-xj+w-1). (swin.RelativePositionIndex computes
// the same for the forward pass; glip cannot import swin, whose tests
// import glip.)
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
