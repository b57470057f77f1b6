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
	// Notes are facts about the output a user should know that are not
	// problems (what an ecosystem layout has no slot for, its input
	// order).
	Notes []string
	// InputOrder is the channel order the output takes; SourceInputOrder
	// the source's.
	InputOrder, SourceInputOrder glip.InputOrder
	// NoSlot are the canonical names of the backbone tensors the output
	// layout has no slot for (dropped).
	NoSlot []string
	// Window is the window-shift rule of the output layout's library.
	Window glip.WindowRule
}

// PlanOptions are the choices NewPlan needs.
type PlanOptions struct {
	// From is the source layout: LayoutOfficial, LayoutMMPretrain, or ""
	// (also "auto") to detect it.
	From glip.Layout
	// Layout is the output layout (LayoutMMPretrain when "").
	Layout glip.Layout
	Mode   DTypeMode
	// InputOrder is the output's input order ("": RGB for the ecosystem
	// layouts, BGR otherwise); SourceInputOrder the source's when its
	// metadata does not say ("": the metadata's, else BGR).
	InputOrder, SourceInputOrder glip.InputOrder
	// Format is the output format; Q8_0 source tensors become F32 (exactly)
	// for formats other than GGUF.
	Format Format
	// Match finds the zoo entry of an architecture; nil uses zoo.Match.
	Match func(swin.Arch) (zoo.Entry, bool)
}

// NewPlan works out the conversion of checkpoint c: the layout, the kept
// tensors with their names and transforms (mmpretrain's converter for an
// official source, a pass-through of the backbone for an mmpretrain one,
// the inverse for LayoutOfficial output, glip.Export for an ecosystem
// layout, glip.Import for an ecosystem source), the dropped ones, and the
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
	if _, err := glip.ParseLayout(string(layout)); err != nil {
		return nil, fmt.Errorf("output: %w", err)
	}
	from := opts.From
	if from == "auto" {
		from = ""
	}
	if from != "" {
		if _, err := glip.ParseLayout(string(from)); err != nil {
			return nil, fmt.Errorf("source: %w", err)
		}
	}
	order, err := inputOrder(layout, opts.InputOrder)
	if err != nil {
		return nil, err
	}

	b, err := glip.BackboneIn(c, "", opts.SourceInputOrder)
	if err != nil {
		return nil, err
	}
	p := &Plan{Prefix: b.Prefix, Detected: b.Layout, Layout: layout, Mode: mode, InputOrder: order, SourceInputOrder: b.InputOrder,
		Warnings: c.UnsupportedWarnings()}
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
		if b, err = glip.BackboneIn(c, from, opts.SourceInputOrder); err != nil {
			return nil, err
		}
		p.SourceInputOrder = b.InputOrder
	}

	// Tensors outside the state dict (optimizer state, ...) are dropped.
	p.Dropped = append(p.Dropped, b.Outside...)
	source := make(map[string]*ckpt.Tensor, len(b.Mappings)) // state-dict name -> source tensor
	_, sd := c.StateDict()
	for _, t := range sd {
		source[t.Name] = t
	}
	if from.Ecosystem() || layout.Ecosystem() || from == glip.LayoutMMDet || layout == glip.LayoutMMDet {
		if err := p.planCanonical(b, sd, opts); err != nil {
			return nil, err
		}
		return p, nil
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
	p.addDropped(dropped)
	if len(kept) == 0 {
		return nil, fmt.Errorf("not a GLIP/Swin backbone checkpoint: none of its %d state-dict tensors is a backbone tensor", nsd)
	}
	var canon []canonTensor
	for _, m := range kept {
		src := source[m.From]
		if src == nil {
			return nil, fmt.Errorf("internal error: remap names unknown tensor %q", m.From)
		}
		o := &Output{From: m.From, To: m.To, Transform: m.Transform, Src: src}
		if m.Transform == glip.Reordered {
			o.Reorder = true
			o.Inverse = from == glip.LayoutMMPretrain
		}
		if err := p.addOutput(o, mmName[m.To], opts.Format); err != nil {
			return nil, err
		}
		canon = append(canon, canonTensor{name: mmName[m.To], shape: o.Shape(), from: m.From})
	}
	if err := p.checkArch(canon, opts.Match); err != nil {
		return nil, err
	}
	return p, nil
}

// inputOrder is the input order of an output in layout l: RGB by default
// for the ecosystem layouts, BGR (GLIP's) for the others, which cannot be
// RGB.
func inputOrder(l glip.Layout, in glip.InputOrder) (glip.InputOrder, error) {
	switch {
	case in == "" && l.Ecosystem():
		return glip.InputRGB, nil
	case in == "" || in == glip.InputBGR:
		return glip.InputBGR, nil
	case in == glip.InputRGB && l.Ecosystem():
		return glip.InputRGB, nil
	case in == glip.InputRGB:
		return "", fmt.Errorf("--input-order rgb is for the hf, hf-model, timm and torchvision layouts; the %s layout takes GLIP's BGR", l)
	}
	return "", fmt.Errorf("unknown input order %q (want rgb or bgr)", in)
}

// addDropped records state-dict tensors (prefix removed) as dropped.
func (p *Plan) addDropped(dropped []*ckpt.Tensor) {
	for _, t := range dropped {
		cp := *t
		cp.Name = p.Prefix + t.Name
		p.Dropped = append(p.Dropped, &cp)
	}
}

// addOutput sets o's dtype (mm is its canonical name) and appends it.
func (p *Plan) addOutput(o *Output, mm string, format Format) error {
	src := o.Src
	if err := src.Check(); err != nil {
		return err
	}
	o.DType = outputDType(p.Mode, mm, src.DType, src.Shape)
	if o.DType == ckpt.Q8_0 && format != "" && format != FormatGGUF {
		o.DType = ckpt.F32 // f16 scale x int8 is exact in f32
	}
	if o.Reorder && src.DType == ckpt.Q8_0 {
		return fmt.Errorf("tensor %q: a Q8_0 patch-merging tensor cannot be reordered", src.Name)
	}
	if src.DType == ckpt.Q8_0 && o.DType != ckpt.Q8_0 && !o.DType.IsFloat() {
		return fmt.Errorf("tensor %q: cannot convert Q8_0 to %s", src.Name, o.DType)
	}
	p.Outputs = append(p.Outputs, o)
	return nil
}

// planCanonical plans a conversion through the canonical backbone (b's
// Mappings: mmpretrain names, GLIP's values): for an ecosystem or mmdet
// source, or an ecosystem or mmdet output. Every output tensor reads its
// values through the views glip builds; the report's From names the
// source tensors.
func (p *Plan) planCanonical(b *glip.Backbone, sd []*ckpt.Tensor, opts PlanOptions) error {
	if p.Layout == glip.LayoutMMDet && p.From == glip.LayoutOfficial {
		return p.planMMDet(sd, opts)
	}
	dropped := b.Dropped
	if p.From == glip.LayoutMMDet && p.Layout == glip.LayoutOfficial {
		// The neck, language model and head go back to their official
		// names after the backbone.
		dropped = nil
	}
	p.addDropped(dropped)
	if len(b.Mappings) == 0 {
		return fmt.Errorf("not a GLIP/Swin backbone checkpoint: none of its %d state-dict tensors is a backbone tensor", len(b.Dropped))
	}
	fromOf := map[string]string{} // canonical name -> source name(s)
	var canon []canonTensor
	for _, m := range b.Mappings {
		from := m.From
		if len(m.Sources) > 0 {
			from = strings.Join(m.Sources, "+")
		}
		if from == "" {
			from = "(" + string(m.Transform) + ")"
		}
		fromOf[m.To] = from
		canon = append(canon, canonTensor{name: m.To, shape: m.Tensor.Shape, from: from})
	}
	if p.SourceInputOrder == glip.InputRGB {
		p.Notes = append(p.Notes, "the source takes RGB input (its metadata says input_order rgb): the patch embedding's input channels are reversed back to GLIP's BGR")
	}
	var kept []glip.Mapping
	switch {
	case p.Layout == glip.LayoutMMPretrain || p.Layout == glip.LayoutMMDet:
		for _, m := range b.Mappings {
			kept = append(kept, glip.Mapping{From: m.To, To: m.To, Transform: m.Transform, Tensor: m.Tensor})
		}
		if p.Layout == glip.LayoutMMDet {
			p.Notes = append(p.Notes, fmt.Sprintf("a %s source holds the backbone only: the mmdet file has the backbone part (backbone.*) and no neck, language model or head", p.From))
		}
	case p.Layout == glip.LayoutOfficial:
		more, _, err := glip.RemapToOfficial(b.Tensors())
		if err != nil {
			return err
		}
		kept = more
	default:
		more, noSlot, err := glip.Export(p.Layout, b.Tensors(), glip.ExportOptions{RGB: p.InputOrder == glip.InputRGB})
		if err != nil {
			return err
		}
		kept = more
		p.NoSlot = glip.NoSlotNames(noSlot)
	}
	for _, m := range kept {
		o := &Output{From: fromOf[m.From], To: m.To, Transform: m.Transform, Src: m.Tensor}
		if m.From != m.To && m.Transform == glip.Kept {
			o.Transform = glip.Renamed
		}
		if err := p.addOutput(o, m.From, opts.Format); err != nil {
			return err
		}
	}
	if p.From == glip.LayoutMMDet && p.Layout == glip.LayoutOfficial {
		still, err := p.mmdetToOfficial(b, opts.Format)
		if err != nil {
			return err
		}
		p.addDropped(still)
	}
	if err := p.checkArch(canon, opts.Match); err != nil {
		return err
	}
	p.ecosystemNotes(opts.Format)
	return nil
}

// canonTensor is one backbone tensor as the architecture check sees it:
// its canonical name and shape, and its name in the source.
type canonTensor struct {
	name  string
	shape []int64
	from  string
}

// checkArch reads the architecture off the canonical shapes and checks
// every tensor a Swin backbone of that architecture has.
func (p *Plan) checkArch(canon []canonTensor, match func(swin.Arch) (zoo.Entry, bool)) error {
	shapes := make(map[string][]int64, len(canon))
	byMM := make(map[string]canonTensor, len(canon))
	for _, c := range canon {
		shapes[c.name] = c.shape
		byMM[c.name] = c
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
		if !slices.Equal(o.shape, ks.Shape) {
			return fmt.Errorf("not a consistent Swin backbone (%s): %s has shape %s, want %s", a, o.from, ckpt.ShapeString(o.shape), ckpt.ShapeString(ks.Shape))
		}
	}
	var extra []string
	for _, c := range canon {
		if !expected[c.name] {
			extra = append(extra, c.from)
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
