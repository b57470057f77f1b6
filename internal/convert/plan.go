package convert

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/glipctl/glipctl/internal/ckpt"
	"github.com/glipctl/glipctl/internal/glip"
	"github.com/glipctl/glipctl/internal/swin"
	"github.com/glipctl/glipctl/internal/zoo"
)

// Output is one tensor of the converted file: which source tensor it comes
// from, its new name, what the remap does to its values, and its dtype.
type Output struct {
	// From is the source tensor's name in the state dict (container prefix
	// removed); To is the output name.
	From, To  string
	Transform glip.Transform
	// Src is the source tensor; its Data is read only while the output is
	// written.
	Src *ckpt.Tensor
	// Reorder permutes the patch-merging channels (GLIP concatenation to
	// nn.Unfold order, or back when Inverse).
	Reorder, Inverse bool
	// DType is the output dtype.
	DType ckpt.DType
}

// Shape returns the output shape (the source's: the remap only renames and
// permutes).
func (o *Output) Shape() []int64 { return o.Src.Shape }

// NBytes returns the size of the output tensor's data.
func (o *Output) NBytes() int64 {
	n, _ := o.DType.Bytes(o.Src.Numel())
	return n
}

// Plan is a conversion worked out from a checkpoint's names and shapes,
// before any tensor is read.
type Plan struct {
	// Prefix is the state dict's container in the source ("model/",
	// "state_dict/" or "").
	Prefix string
	// Detected is the layout read off the names; From the layout the
	// conversion treats the source as; Layout the output layout.
	Detected, From, Layout glip.Layout
	Mode                   DTypeMode
	Outputs                []*Output
	// Dropped are the source tensors not converted (full names, container
	// included): language backbone, FPN, RPN, optimizer state, ...
	Dropped []*ckpt.Tensor
	// Arch is the backbone's architecture, OutIndices its per-output norms.
	Arch       swin.Arch
	OutIndices []int
	// Model is the zoo entry matching Arch, nil when none does.
	Model *zoo.Entry
	// Warnings are findings that did not stop the conversion.
	Warnings []string
}

// PlanOptions are the choices NewPlan needs.
type PlanOptions struct {
	// From is the source layout: LayoutOfficial, LayoutMMPretrain, or ""
	// (also "auto") to detect it.
	From glip.Layout
	// Layout is the output layout: LayoutMMPretrain ("" too) or
	// LayoutOfficial.
	Layout glip.Layout
	Mode   DTypeMode
	// Format is the output format; Q8_0 source tensors become F32 (exactly)
	// for formats other than GGUF.
	Format Format
	// Match finds the zoo entry of an architecture; nil uses zoo.Match.
	Match func(swin.Arch) (zoo.Entry, bool)
}

// NewPlan works out the conversion of checkpoint c: the layout, the kept
// tensors with their names and transforms (mmpretrain's converter for an
// official source, a pass-through of the backbone for an mmpretrain one,
// the inverse for LayoutOfficial output), the dropped ones, and the
// architecture, checked against the shapes. It reads no tensor data.
func NewPlan(c *ckpt.Checkpoint, opts PlanOptions) (*Plan, error) {
	mode := opts.Mode
	if mode == "" {
		mode = Keep
	}
	if _, err := ParseDTypeMode(string(mode)); err != nil {
		return nil, err
	}
	layout := opts.Layout
	if layout == "" {
		layout = glip.LayoutMMPretrain
	}
	if layout != glip.LayoutMMPretrain && layout != glip.LayoutOfficial {
		return nil, fmt.Errorf("unknown output layout %q (want mmpretrain or official)", layout)
	}
	from := opts.From
	if from == "auto" {
		from = ""
	}
	if from != "" && from != glip.LayoutOfficial && from != glip.LayoutMMPretrain {
		return nil, fmt.Errorf("unknown source layout %q (want official, mmpretrain or auto)", from)
	}

	b, err := glip.NewBackbone(c)
	if err != nil {
		return nil, err
	}
	p := &Plan{Prefix: b.Prefix, Detected: b.Layout, Layout: layout, Mode: mode, Warnings: c.UnsupportedWarnings()}
	nsd := len(b.Mappings) + len(b.Dropped)
	switch {
	case p.Detected == glip.LayoutOther && from == "":
		return nil, &glip.ErrNotBackbone{Tensors: nsd}
	case p.Detected != glip.LayoutOther && from != "" && from != p.Detected:
		return nil, &OptionError{Option: "from", Err: fmt.Errorf("%s, but the keys are in the %s layout (e.g. %s)", from, p.Detected, b.Mappings[0].From)}
	case from == "":
		from = p.Detected
	}
	p.From = from
	if p.Detected == glip.LayoutOther {
		// A layout forced onto keys that show none: read them as that
		// layout's names.
		if b, err = glip.BackboneAs(c, from); err != nil {
			return nil, err
		}
	}

	// Tensors outside the state dict (optimizer state, ...) are dropped.
	p.Dropped = append(p.Dropped, b.Outside...)
	source := make(map[string]*ckpt.Tensor, len(b.Mappings)) // state-dict name -> source tensor
	_, sd := c.StateDict()
	for _, t := range sd {
		source[t.Name] = t
	}
	var kept []glip.Mapping
	dropped := b.Dropped
	mmName := map[string]string{} // output name -> mmpretrain name, for the arch check
	switch {
	case layout == glip.LayoutMMPretrain: // the backbone as found, in mmpretrain names
		kept = b.Mappings
		for _, m := range kept {
			mmName[m.To] = m.To
		}
	case from == glip.LayoutMMPretrain: // mmpretrain -> official
		var more []*ckpt.Tensor
		kept, more, err = glip.RemapToOfficial(b.Tensors())
		dropped = append(dropped, more...)
		for _, m := range kept {
			mmName[m.To] = m.From
		}
	default: // official -> official: the backbone, named as the inverse remap names it
		for _, m := range b.Mappings {
			name, _, _ := glip.OfficialName(m.To)
			tr := glip.Kept
			if name != m.From {
				tr = glip.Renamed
			}
			kept = append(kept, glip.Mapping{From: m.From, To: name, Transform: tr, Tensor: source[m.From]})
			mmName[name] = m.To
		}
	}
	if err != nil {
		return nil, err
	}
	for _, t := range dropped {
		cp := *t
		cp.Name = p.Prefix + t.Name
		p.Dropped = append(p.Dropped, &cp)
	}
	if len(kept) == 0 {
		return nil, fmt.Errorf("not a GLIP/Swin backbone checkpoint: none of its %d state-dict tensors is a backbone tensor", nsd)
	}
	for _, m := range kept {
		src := source[m.From]
		if src == nil {
			return nil, fmt.Errorf("internal error: remap names unknown tensor %q", m.From)
		}
		if err := src.Check(); err != nil {
			return nil, err
		}
		o := &Output{From: m.From, To: m.To, Transform: m.Transform, Src: src}
		if m.Transform == glip.Reordered {
			o.Reorder = true
			o.Inverse = from == glip.LayoutMMPretrain
		}
		o.DType = outputDType(mode, mmName[m.To], src.DType, src.Shape)
		if o.DType == ckpt.Q8_0 && opts.Format != "" && opts.Format != FormatGGUF {
			o.DType = ckpt.F32 // f16 scale x int8 is exact in f32
		}
		if o.Reorder && src.DType == ckpt.Q8_0 {
			return nil, fmt.Errorf("tensor %q: a Q8_0 patch-merging tensor cannot be reordered", src.Name)
		}
		if src.DType == ckpt.Q8_0 && o.DType != ckpt.Q8_0 && !o.DType.IsFloat() {
			return nil, fmt.Errorf("tensor %q: cannot convert Q8_0 to %s", src.Name, o.DType)
		}
		p.Outputs = append(p.Outputs, o)
	}
	if err := p.checkArch(mmName, opts.Match); err != nil {
		return nil, err
	}
	return p, nil
}

// checkArch reads the architecture off the shapes (mmpretrain names) and
// checks every tensor a Swin backbone of that architecture has.
func (p *Plan) checkArch(mmName map[string]string, match func(swin.Arch) (zoo.Entry, bool)) error {
	shapes := make(map[string][]int64, len(p.Outputs))
	byMM := make(map[string]*Output, len(p.Outputs))
	for _, o := range p.Outputs {
		n := mmName[o.To]
		shapes[n] = o.Shape()
		byMM[n] = o
	}
	a, err := swin.ArchFromShapes(shapes)
	if err != nil {
		return fmt.Errorf("not a GLIP/Swin backbone: %w", err)
	}
	p.Arch = a
	for k := 0; k < len(a.Depths); k++ {
		if _, ok := shapes[fmt.Sprintf("backbone.norm%d.weight", k)]; ok {
			p.OutIndices = append(p.OutIndices, k)
		}
	}
	expected := map[string]bool{}
	for _, ks := range a.ExpectedKeys(p.OutIndices) {
		expected[ks.Name] = true
		o, ok := byMM[ks.Name]
		if !ok {
			return fmt.Errorf("not a consistent Swin backbone (%s): %s is missing", a, p.nameOf(ks.Name))
		}
		if !slices.Equal(o.Shape(), ks.Shape) {
			return fmt.Errorf("not a consistent Swin backbone (%s): %s has shape %s, want %s", a, o.From, ckpt.ShapeString(o.Shape()), ckpt.ShapeString(ks.Shape))
		}
	}
	var extra []string
	for _, o := range p.Outputs {
		if !expected[mmName[o.To]] {
			extra = append(extra, o.From)
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		p.Warnings = append(p.Warnings, fmt.Sprintf("%d backbone tensors that a Swin backbone (%s) does not have are converted as they are: %s", len(extra), a, strings.Join(extra, ", ")))
	}
	if match == nil {
		match = zoo.Match
	}
	if e, ok := match(a); ok {
		p.Model = &e
	} else {
		p.Warnings = append(p.Warnings, fmt.Sprintf("architecture (%s) matches no zoo model: image size unknown, preprocessing assumed GLIP's", a))
	}
	return nil
}

// nameOf gives a missing mmpretrain key in the source's naming.
func (p *Plan) nameOf(mm string) string {
	if p.From == glip.LayoutOfficial {
		if n, ok, _ := glip.OfficialName(mm); ok {
			if strings.HasPrefix(p.sourceExample(), "backbone.body.") {
				n = strings.TrimPrefix(n, "module.")
			}
			return n
		}
	}
	return mm
}

func (p *Plan) sourceExample() string {
	if len(p.Outputs) > 0 {
		return p.Outputs[0].From
	}
	return ""
}

// Preprocess returns the model's input normalisation: the zoo entry's, or
// GLIP's (shared by every zoo model) when the architecture matches none.
func (p *Plan) Preprocess() zoo.Preprocess {
	if p.Model != nil {
		return p.Model.Preprocess
	}
	for _, e := range zoo.Entries() {
		return e.Preprocess
	}
	return zoo.Preprocess{}
}

// ImgSize returns the zoo model's input size, 0 when unknown.
func (p *Plan) ImgSize() int {
	if p.Model != nil {
		return p.Model.ImgSize
	}
	return 0
}

// droppedGroup summarises dropped tensors sharing a prefix.
type droppedGroup struct {
	Prefix string `json:"prefix"`
	Count  int    `json:"count"`
	Bytes  int64  `json:"bytes"`
}

// droppedPrefix groups a dropped tensor's name: its container levels up to
// the state dict, then the dotted components up to the first that is not
// "module" or "backbone" ("model/module.language_backbone",
// "model/module.backbone.fpn", "optimizer").
func droppedPrefix(name, stateDictPrefix string) string {
	if stateDictPrefix != "" && !strings.HasPrefix(name, stateDictPrefix) {
		first, _, _ := strings.Cut(name, "/")
		return first
	}
	rest := strings.TrimPrefix(name, stateDictPrefix)
	parts := strings.Split(rest, ".")
	n := 0
	for n < len(parts)-1 && (parts[n] == "module" || parts[n] == "backbone") {
		n++
	}
	if n < len(parts)-1 {
		n++
	}
	return stateDictPrefix + strings.Join(parts[:n], ".")
}

func (p *Plan) droppedGroups() []droppedGroup {
	idx := map[string]int{}
	var out []droppedGroup
	for _, t := range p.Dropped {
		k := droppedPrefix(t.Name, p.Prefix)
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, droppedGroup{Prefix: k})
		}
		out[i].Count++
		out[i].Bytes += t.NBytes()
	}
	return out
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}
