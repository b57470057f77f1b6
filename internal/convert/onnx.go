package convert

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/glipctl/glipctl/internal/ckpt"
	"github.com/glipctl/glipctl/internal/ckpt/onnx"
	"github.com/glipctl/glipctl/internal/glip"
	"github.com/glipctl/glipctl/internal/onnxgraph"
	"github.com/glipctl/glipctl/internal/swin"
)

// GraphReport describes an ONNX output's graph.
type GraphReport struct {
	InputSize  string         `json:"input_size"` // "HxW"
	Semantics  swin.Semantics `json:"semantics"`
	Opset      int            `json:"opset"`
	OutIndices []int          `json:"out_indices"`
	Nodes      int            `json:"nodes"`
	// Initializers and InitializerBytes count every tensor the file holds:
	// the weights plus the precomputed biases, masks and shape constants.
	Initializers     int   `json:"initializers"`
	InitializerBytes int64 `json:"initializer_bytes"`
}

// checkGraph validates the options of an ONNX output (usage mistakes,
// *OptionError naming the option).
func (o Options) checkGraph(mode DTypeMode) error {
	switch mode {
	case Keep, ToF32, ToF16:
	default:
		return &OptionError{Option: "dtype", Err: fmt.Errorf("%s is not for ONNX output (want f32 or f16)", mode)}
	}
	if o.Layout != "" && o.Layout != glip.LayoutMMPretrain {
		return &OptionError{Option: "layout", Err: fmt.Errorf("ONNX output takes no %s layout (its initializers have mmpretrain names)", o.Layout)}
	}
	if o.InputOrder != "" {
		return &OptionError{Option: "input-order", Err: fmt.Errorf("is not for ONNX output (the graph takes the channel order of the source's weights, recorded in its metadata)")}
	}
	g := o.Graph
	if g.Opset != 0 && (g.Opset < onnxgraph.MinOpset || g.Opset > onnxgraph.MaxOpset) {
		return &OptionError{Option: "opset", Err: &onnxgraph.OpsetError{Opset: g.Opset}}
	}
	if g.Height < 0 || g.Width < 0 || (g.Height == 0) != (g.Width == 0) {
		return &OptionError{Option: "size", Err: fmt.Errorf("%dx%d is not a size", g.Height, g.Width)}
	}
	switch g.Semantics {
	case "", swin.MMPretrain, swin.GLIP:
	default:
		return &OptionError{Option: "semantics", Err: fmt.Errorf("unknown semantics %q (want mmpretrain or glip)", g.Semantics)}
	}
	return nil
}

// onnxModel builds the ONNX graph of the converted tensors, with the
// provenance and preprocessing in its metadata_props.
func (p *Plan) onnxModel(tensors []*ckpt.Tensor, src Source, srcSHA string, opts Options) (*onnx.Model, error) {
	g := opts.Graph
	h, w := g.Height, g.Width
	if h == 0 {
		s := p.ImgSize()
		if s == 0 {
			return nil, fmt.Errorf("the architecture (%s) matches no zoo model: give the input size with --size", p.Arch)
		}
		h, w = s, s
	}
	sem := g.Semantics
	if sem == "" {
		sem = swin.MMPretrain
	}
	pp := p.Preprocess()
	order := "RGB"
	if pp.BGR {
		order = "BGR"
	}
	floats := func(v []float64) string { b, _ := json.Marshal(v); return string(b) }
	md := []onnx.StringEntry{
		{Key: "input_layout", Value: "NCHW"},
		{Key: "layout", Value: string(p.Layout)},
		{Key: "dtype", Value: string(p.Mode)},
		{Key: "mean", Value: floats(pp.Mean)},
		{Key: "std", Value: floats(pp.Std)},
		{Key: "channel_order", Value: order},
		{Key: "source_file", Value: filepath.Base(src.Path)},
		{Key: "source_sha256", Value: srcSHA},
		{Key: "glipctl_version", Value: opts.Version},
	}
	if p.Model != nil {
		md = append(md, onnx.StringEntry{Key: "model", Value: p.Model.Name})
	}
	m, err := onnxgraph.Build(tensors, onnxgraph.Options{Height: h, Width: w, OutIndices: g.OutIndices,
		Semantics: sem, Opset: g.Opset, ProducerVersion: opts.Version, Metadata: md})
	var sm *swin.SmallMapError
	if errors.As(err, &sm) {
		return nil, fmt.Errorf("--size %dx%d: stage %d's map (%dx%d) is smaller than the window (%d) under mmpretrain semantics; use --semantics glip or a larger size", h, w, sm.Stage, sm.H, sm.W, sm.Window)
	}
	return m, err
}

// usedData keeps the tensors that are initializers of m (the graph leaves
// out the relative position tables and indices it expands, and the stages
// and norms no output needs).
func usedData(datas []*outData, m *onnx.Model) []*outData {
	used := map[string]bool{}
	for _, t := range m.Graph.Initializers {
		used[t.Name] = true
	}
	var out []*outData
	for _, d := range datas {
		n := d.o.To
		if !strings.HasPrefix(n, "backbone.") {
			n = "backbone." + n
		}
		if used[n] {
			out = append(out, d)
		}
	}
	return out
}

// graphReport describes m for the report.
func graphReport(m *onnx.Model) *GraphReport {
	r := &GraphReport{Nodes: len(m.Graph.Nodes), Initializers: len(m.Graph.Initializers)}
	for _, t := range m.Graph.Initializers {
		r.InitializerBytes += t.NBytes()
	}
	for _, o := range m.Opsets {
		if o.Domain == "" {
			r.Opset = int(o.Version)
		}
	}
	for _, e := range m.Metadata {
		switch e.Key {
		case "input_size":
			r.InputSize = e.Value
		case "semantics":
			r.Semantics = swin.Semantics(e.Value)
		case "out_indices":
			json.Unmarshal([]byte(e.Value), &r.OutIndices)
		}
	}
	return r
}
