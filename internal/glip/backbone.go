package glip

import (
	"fmt"
	"strings"

	"github.com/glipctl/glipctl/internal/ckpt"
)

// Backbone is the Swin backbone found in a checkpoint: its state dict's
// place and layout, and its tensors in mmpretrain names.
type Backbone struct {
	// Prefix is the state dict's container prefix ("model/", "" at the top).
	Prefix string
	// Layout is the state dict's detected layout.
	Layout Layout
	// Mappings are the backbone's tensors in file order: From the
	// state-dict name (Prefix removed), To the mmpretrain name, Tensor the
	// tensor named To with mmpretrain's values (reordered lazily where the
	// remap reorders). Empty for LayoutOther.
	Mappings []Mapping
	// Dropped are the state-dict tensors that are not backbone tensors
	// (Prefix removed): language backbone, FPN, heads, other modules.
	Dropped []*ckpt.Tensor
	// Outside are the checkpoint's tensors outside the state dict
	// (optimizer state, ...), with their full names.
	Outside []*ckpt.Tensor
	// ModulePrefix is true when official keys carry DataParallel's
	// "module.".
	ModulePrefix bool
	// InputOrder is the channel order the weights take: InputBGR (GLIP's)
	// or InputRGB for an RGB export, whose patch embedding Mappings
	// already turned back to BGR.
	InputOrder InputOrder
}

// InputOrder is the channel order of a model's input.
type InputOrder string

// The input orders.
const (
	InputBGR InputOrder = "bgr" // GLIP's: BGR, 0..255, GLIP's mean and std
	InputRGB InputOrder = "rgb" // RGB in [0, 1] with ImageNet's mean and std
)

// MetaInputOrder is the metadata key (safetensors __metadata__, a
// directory's config) that records an export's input order; absent means
// InputBGR.
const MetaInputOrder = "input_order"

// MetaWindowRule is the metadata key that records the window-shift rule
// an export's weights were converted for (see WindowRuleOf).
const MetaWindowRule = "window_rule"

// ParseInputOrder accepts "bgr" or "rgb" (case-insensitively).
func ParseInputOrder(s string) (InputOrder, error) {
	switch InputOrder(strings.ToLower(s)) {
	case InputBGR:
		return InputBGR, nil
	case InputRGB:
		return InputRGB, nil
	}
	return "", fmt.Errorf("unknown input order %q (want rgb or bgr)", s)
}

// NewBackbone finds the backbone of an open checkpoint: the state dict
// (ckpt.Checkpoint.StateDict), its layout, and, for an official state dict,
// the remap to mmpretrain names (RemapToMMPretrain); an mmpretrain state
// dict's "backbone." tensors are taken as they are. It reads no tensor
// data. The error is the remap's (a patch-merging tensor of a bad shape).
func NewBackbone(c *ckpt.Checkpoint) (*Backbone, error) {
	return BackboneAs(c, "")
}

// BackboneAs is NewBackbone with the state dict read as layout l whatever
// its keys show (DetectLayout's when l is ""): for a user who knows better
// than the keys.
func BackboneAs(c *ckpt.Checkpoint, l Layout) (*Backbone, error) {
	return BackboneIn(c, l, "")
}

// BackboneIn is BackboneAs with the input order of an ecosystem layout's
// weights given (for a file with no metadata that says it, such as a
// torchvision .pth); "" takes the metadata's (MetaInputOrder), else BGR.
func BackboneIn(c *ckpt.Checkpoint, l Layout, in InputOrder) (*Backbone, error) {
	prefix, sd := c.StateDict()
	if l == "" {
		keys := make([]string, len(sd))
		for i, t := range sd {
			keys[i] = t.Name
		}
		l = DetectLayout(keys)
	}
	b := &Backbone{Prefix: prefix, Layout: l, InputOrder: InputBGR}
	if prefix != "" {
		for _, t := range c.Tensors {
			if !strings.HasPrefix(t.Name, prefix) {
				b.Outside = append(b.Outside, t)
			}
		}
	}
	switch b.Layout {
	case LayoutOfficial:
		kept, dropped, err := RemapToMMPretrain(sd)
		if err != nil {
			return nil, err
		}
		b.Mappings, b.Dropped = kept, dropped
		for _, m := range kept {
			if strings.HasPrefix(m.From, "module.") {
				b.ModulePrefix = true
				break
			}
		}
	case LayoutMMPretrain, LayoutMMDet:
		for _, t := range sd {
			if !strings.HasPrefix(t.Name, "backbone.") {
				b.Dropped = append(b.Dropped, t)
				continue
			}
			b.Mappings = append(b.Mappings, Mapping{From: t.Name, To: t.Name, Transform: Kept, Tensor: t})
		}
	case LayoutHF, LayoutHFModel, LayoutTimm, LayoutTorchvision:
		order := InputBGR
		if in != "" {
			order = in
		} else if v := c.Metadata[MetaInputOrder]; v != "" {
			o, err := ParseInputOrder(v)
			if err != nil {
				return nil, fmt.Errorf("metadata %s: %w", MetaInputOrder, err)
			}
			order = o
		}
		kept, dropped, err := Import(b.Layout, sd, order == InputRGB)
		if err != nil {
			return nil, err
		}
		b.Mappings, b.Dropped, b.InputOrder = kept, dropped, order
	default:
		b.Dropped = sd
	}
	return b, nil
}

// Tensors returns the backbone's tensors in mmpretrain names, in file
// order.
func (b *Backbone) Tensors() []*ckpt.Tensor {
	out := make([]*ckpt.Tensor, len(b.Mappings))
	for i, m := range b.Mappings {
		out[i] = m.Tensor
	}
	return out
}

// Shapes returns the backbone's shapes by mmpretrain name.
func (b *Backbone) Shapes() map[string][]int64 {
	s := make(map[string][]int64, len(b.Mappings))
	for _, m := range b.Mappings {
		s[m.To] = m.Tensor.Shape
	}
	return s
}

// FileName returns how the checkpoint would spell the mmpretrain key mm,
// prefix included: the name of the tensor it came from when there is one,
// else the name the layout gives it (for listing a missing key).
func (b *Backbone) FileName(mm string) string {
	for _, m := range b.Mappings {
		if m.To == mm {
			return b.Prefix + m.From
		}
	}
	name := mm
	if b.Layout.Ecosystem() {
		if nm, err := namingOf(b.Layout, nil); err == nil {
			if ss, _ := nm.slots(mm, canonStages(b.canonNames())); len(ss) > 0 {
				name = ss[0].Name
			}
		}
	}
	if b.Layout == LayoutOfficial {
		name, _, _ = OfficialName(mm)
		if !b.ModulePrefix {
			name = strings.TrimPrefix(name, "module.")
		}
	}
	return b.Prefix + name
}

// Stages is the number of stages of the backbone's blocks.
func (b *Backbone) Stages() int { return canonStages(b.canonNames()) }

func (b *Backbone) canonNames() []string {
	out := make([]string, len(b.Mappings))
	for i, m := range b.Mappings {
		out[i] = m.To
	}
	return out
}

// ErrNotBackbone is the error of a checkpoint with no GLIP/Swin backbone.
type ErrNotBackbone struct {
	// Tensors is the number of state-dict tensors looked at.
	Tensors int
}

func (e *ErrNotBackbone) Error() string {
	return fmt.Sprintf("not a GLIP/Swin backbone checkpoint: no official GLIP, mmpretrain, mmdet, HF, timm or torchvision Swin keys among its %d tensors", e.Tensors)
}

// Require returns b, or an *ErrNotBackbone when it holds no backbone
// tensor.
func (b *Backbone) Require() (*Backbone, error) {
	if len(b.Mappings) == 0 {
		return nil, &ErrNotBackbone{Tensors: len(b.Mappings) + len(b.Dropped)}
	}
	return b, nil
}
