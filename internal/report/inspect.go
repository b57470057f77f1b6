package report

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"

	"github.com/glipctl/glipctl/internal/ckpt"
	"github.com/glipctl/glipctl/internal/glip"
	"github.com/glipctl/glipctl/internal/stats"
	"github.com/glipctl/glipctl/internal/swin"
)

// InspectOptions selects what Inspect computes.
type InspectOptions struct {
	Stats  bool
	Filter *regexp.Regexp // only tensors whose names match; nil for all
	// NameArch names an architecture ("Swin-T") when it matches a known
	// model; nil or "" leaves it unnamed.
	NameArch func(swin.Arch) string
}

// Inspection is the report on one checkpoint. Its JSON form is glipctl's
// stable inspect schema (documented in README.md).
type Inspection struct {
	File            string          `json:"file"`
	Format          ckpt.Format     `json:"format"`
	Layout          glip.Layout     `json:"layout"`
	StateDictPrefix string          `json:"state_dict_prefix"`
	Arch            *ArchInfo       `json:"arch"`
	ArchError       string          `json:"arch_error,omitempty"`
	MissingKeys     []string        `json:"missing_keys"`
	UnexpectedKeys  []string        `json:"unexpected_keys"`
	ShapeMismatches []ShapeMismatch `json:"shape_mismatches"`
	Tensors         []TensorInfo    `json:"tensors"`
	// Unsupported are tensors the reader cannot represent (complex,
	// quantized, sparse), by name and reason; not in Tensors or Totals.
	Unsupported []ckpt.Unsupported `json:"unsupported"`
	Leaves      []ckpt.Leaf        `json:"leaves"`
	Metadata    map[string]string  `json:"metadata"`
	Warnings    []string           `json:"warnings"`
	Totals      Totals             `json:"totals"`
}

// ArchInfo is a Swin architecture read off the shapes, with its zoo name.
type ArchInfo struct {
	Name string `json:"name"`
	swin.Arch
}

// ShapeMismatch is a backbone key whose shape differs from the
// architecture's.
type ShapeMismatch struct {
	Name     string  `json:"name"`
	Shape    []int64 `json:"shape"`
	Expected []int64 `json:"expected"`
}

// TensorInfo is one tensor's line of the report.
type TensorInfo struct {
	Name   string      `json:"name"`
	Stored string      `json:"stored_name,omitempty"`
	DType  string      `json:"dtype"`
	Shape  []int64     `json:"shape"`
	Numel  int64       `json:"numel"`
	Bytes  int64       `json:"bytes"`
	Stats  *stats.JSON `json:"stats,omitempty"`
}

// Totals sums the listed tensors.
type Totals struct {
	Tensors  int   `json:"tensors"`
	Elements int64 `json:"elements"`
	Bytes    int64 `json:"bytes"`
}

// Inspect builds the report on an open checkpoint.
func Inspect(ctx context.Context, c *ckpt.Checkpoint, opts InspectOptions) (*Inspection, error) {
	in := &Inspection{
		File:            c.Path,
		Format:          c.Format,
		Metadata:        c.Metadata,
		Warnings:        c.Warnings,
		Leaves:          c.Leaves,
		MissingKeys:     []string{},
		UnexpectedKeys:  []string{},
		ShapeMismatches: []ShapeMismatch{},
		Tensors:         []TensorInfo{},
		Unsupported:     c.Unsupported,
	}
	if in.Unsupported == nil {
		in.Unsupported = []ckpt.Unsupported{}
	}
	if in.Metadata == nil {
		in.Metadata = map[string]string{}
	}
	if in.Warnings == nil {
		in.Warnings = []string{}
	}
	if in.Leaves == nil {
		in.Leaves = []ckpt.Leaf{}
	}
	in.checkBackbone(c, opts)

	var listed []*ckpt.Tensor
	for _, t := range c.Tensors {
		if opts.Filter != nil && !opts.Filter.MatchString(t.Name) && !(t.Stored != "" && opts.Filter.MatchString(t.Stored)) {
			continue
		}
		listed = append(listed, t)
	}
	var st []stats.Stats
	if opts.Stats {
		var err error
		if st, err = stats.TensorStats(ctx, listed); err != nil {
			return nil, fmt.Errorf("%s: %w", c.Path, err)
		}
	}
	for i, t := range listed {
		ti := TensorInfo{Name: t.Name, Stored: t.Stored, DType: t.DType.String(), Shape: t.Shape, Numel: t.Numel(), Bytes: t.NBytes()}
		if ti.Shape == nil {
			ti.Shape = []int64{}
		}
		if st != nil {
			ti.Stats = st[i].JSON()
		}
		in.Tensors = append(in.Tensors, ti)
		in.Totals.Tensors++
		in.Totals.Elements += ti.Numel
		in.Totals.Bytes += ti.Bytes
	}
	return in, nil
}

// checkBackbone detects the layout, reads the architecture off the shapes,
// and compares the backbone's keys with the architecture's.
func (in *Inspection) checkBackbone(c *ckpt.Checkpoint, opts InspectOptions) {
	b, err := glip.NewBackbone(c)
	if err != nil {
		in.Layout = glip.LayoutOfficial
		in.ArchError = err.Error()
		return
	}
	in.Layout, in.StateDictPrefix = b.Layout, b.Prefix
	if b.Layout == glip.LayoutOther {
		return
	}
	if c.Format == ckpt.FormatONNX {
		// A graph holds the weights it uses, the relative position tables
		// expanded: its architecture is the one it records.
		var arch swin.Arch
		if err := json.Unmarshal([]byte(c.Metadata["arch"]), &arch); err != nil {
			in.ArchError = "an ONNX graph without glipctl's arch metadata"
			return
		}
		in.Arch = &ArchInfo{Arch: arch}
		if opts.NameArch != nil {
			in.Arch.Name = opts.NameArch(arch)
		}
		return
	}
	shapes := b.Shapes()
	arch, err := swin.ArchFromShapes(shapes)
	if err != nil {
		in.ArchError = err.Error()
		return
	}
	in.Arch = &ArchInfo{Arch: arch}
	if opts.NameArch != nil {
		in.Arch.Name = opts.NameArch(arch)
	}
	if b.Layout.Ecosystem() {
		in.checkLayoutKeys(c, b, arch)
		return
	}
	expected := map[string]bool{}
	for _, k := range arch.ExpectedKeys(glip.OutIndices) {
		expected[k.Name] = true
		got, ok := shapes[k.Name]
		if !ok {
			in.MissingKeys = append(in.MissingKeys, b.FileName(k.Name))
			continue
		}
		if !slices.Equal(got, k.Shape) {
			in.ShapeMismatches = append(in.ShapeMismatches, ShapeMismatch{Name: b.FileName(k.Name), Shape: got, Expected: k.Shape})
		}
	}
	for _, m := range b.Mappings {
		if !expected[m.To] {
			in.UnexpectedKeys = append(in.UnexpectedKeys, b.Prefix+m.From)
		}
	}
}

// checkLayoutKeys compares the state dict of an ecosystem layout with the
// keys and shapes that layout gives a backbone of arch (glip.ExpectedKeys):
// a key of the layout's that is not there is missing; a state-dict key
// that is neither expected nor one of the library's own keys GLIP has no
// counterpart for (torchvision's head) is unexpected.
func (in *Inspection) checkLayoutKeys(c *ckpt.Checkpoint, b *glip.Backbone, arch swin.Arch) {
	var canon []glip.Key
	for _, k := range arch.ExpectedKeys(glip.OutIndices) {
		canon = append(canon, glip.Key{Name: k.Name, Shape: k.Shape})
	}
	keys, _, err := glip.LayoutKeys(b.Layout, canon)
	if err != nil {
		in.ArchError = err.Error()
		return
	}
	_, sd := c.StateDict()
	shapes := make(map[string][]int64, len(sd))
	for _, t := range sd {
		shapes[t.Name] = t.Shape
	}
	expected := map[string]bool{}
	for _, k := range keys {
		expected[k.Name] = true
		got, ok := shapes[k.Name]
		switch {
		case !ok:
			in.MissingKeys = append(in.MissingKeys, b.Prefix+k.Name)
		case !slices.Equal(got, k.Shape):
			in.ShapeMismatches = append(in.ShapeMismatches, ShapeMismatch{Name: b.Prefix + k.Name, Shape: got, Expected: k.Shape})
		}
	}
	extra := map[string]bool{}
	if b.Layout == glip.LayoutTorchvision {
		for _, k := range glip.TorchvisionExtraKeys {
			extra[k] = true
		}
	}
	for _, t := range sd {
		if !expected[t.Name] && !extra[t.Name] {
			in.UnexpectedKeys = append(in.UnexpectedKeys, b.Prefix+t.Name)
		}
	}
}

// WriteJSON writes the inspection as one line of JSON.
func (in *Inspection) WriteJSON(w interface{ Write([]byte) (int, error) }) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
