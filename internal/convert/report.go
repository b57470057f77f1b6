package convert

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/glipctl/glipctl/internal/ckpt"
	"github.com/glipctl/glipctl/internal/glip"
	"github.com/glipctl/glipctl/internal/stats"
	"github.com/glipctl/glipctl/internal/swin"
	"github.com/glipctl/glipctl/internal/zoo"
)

// Report is what a conversion did. Its JSON form (WriteJSON) is the
// DST.report.json schema; WriteMarkdown renders DST.report.md.
type Report struct {
	GlipctlVersion string       `json:"glipctl_version"`
	Source         SourceReport `json:"source"`
	Output         OutputReport `json:"output"`
	Layout         LayoutReport `json:"layout"`
	Arch           ArchReport   `json:"arch"`
	// Preprocess is the input normalisation the model expects.
	Preprocess zoo.Preprocess `json:"preprocess"`
	// Tensors are the output tensors in file order.
	Tensors []TensorReport `json:"tensors"`
	// Dropped summarises the source tensors not converted, by prefix.
	Dropped []droppedGroup `json:"dropped"`
	Totals  Totals         `json:"totals"`
	// ConversionError is null when no tensor changed dtype; otherwise it
	// summarises the per-tensor errors, the worst tensors first.
	ConversionError *ErrorSummary `json:"conversion_error"`
	Warnings        []string      `json:"warnings"`
	// Ecosystem is set for the hf, hf-model, timm, torchvision and mmdet
	// layouts: the input order, the window rule, what has no slot.
	Ecosystem *EcosystemReport `json:"ecosystem,omitempty"`
}

// EcosystemReport is what a conversion to another library's layout tells
// beyond the tensors.
type EcosystemReport struct {
	// InputOrder is the channel order the output takes (rgb, bgr), and
	// SourceInputOrder the source's.
	InputOrder       glip.InputOrder `json:"input_order"`
	SourceInputOrder glip.InputOrder `json:"source_input_order"`
	// WindowRule is the window-shift rule of the output library's code,
	// which the weights were converted for.
	WindowRule    string   `json:"window_rule"`
	WindowSummary string   `json:"window_rule_summary"`
	WindowAsGLIP  bool     `json:"window_rule_is_glip"`
	NoSlot        []string `json:"no_slot"`
	Notes         []string `json:"notes"`
	// Files are the files of a directory output, in the order written.
	Files []string `json:"files,omitempty"`
}

// SourceReport describes the source file.
type SourceReport struct {
	Path   string      `json:"path"`
	Format ckpt.Format `json:"format"`
	Bytes  int64       `json:"bytes"`
	SHA256 string      `json:"sha256"`
	// SHA256Source says where SHA256 came from: "computed" (the file was
	// read) or "cache" (the digest cache, trusted while the file's stat is
	// unchanged); "" when there is no hash.
	SHA256Source    string `json:"sha256_source"`
	StateDictPrefix string `json:"state_dict_prefix"`
}

// OutputReport describes the written file.
type OutputReport struct {
	Path   string    `json:"path"`
	Format Format    `json:"format"`
	Bytes  int64     `json:"bytes"`
	SHA256 string    `json:"sha256"`
	DType  DTypeMode `json:"dtype"`
	// Graph describes an ONNX output's graph (absent for other formats).
	Graph *GraphReport `json:"graph,omitempty"`
}

// LayoutReport gives the detected, assumed and output layouts.
type LayoutReport struct {
	Detected glip.Layout `json:"detected"`
	From     glip.Layout `json:"from"`
	Output   glip.Layout `json:"output"`
}

// ArchReport is the backbone's architecture and its zoo model.
type ArchReport struct {
	swin.Arch
	OutIndices []int  `json:"out_indices"`
	ImgSize    int    `json:"img_size"`
	Model      string `json:"model"`
	Display    string `json:"display"`
}

// TensorReport is one output tensor.
type TensorReport struct {
	From        string         `json:"from"`
	To          string         `json:"to"`
	Transform   glip.Transform `json:"transform"`
	Shape       []int64        `json:"shape"`
	SourceDType string         `json:"source_dtype"`
	DType       string         `json:"dtype"`
	Bytes       int64          `json:"bytes"`
	Stats       *stats.JSON    `json:"stats"`
	// Error is the conversion error, for tensors whose dtype changed.
	Error *ConvError `json:"conversion_error,omitempty"`
}

// Totals counts kept and dropped tensors.
type Totals struct {
	Kept         int   `json:"kept"`
	KeptBytes    int64 `json:"kept_bytes"`
	OutputBytes  int64 `json:"output_tensor_bytes"`
	Dropped      int   `json:"dropped"`
	DroppedBytes int64 `json:"dropped_bytes"`
}

// ErrorSummary sums up the conversion error over the tensors whose dtype
// changed, for a pipeline to gate on (max_rel_rms_error, max_abs_error).
type ErrorSummary struct {
	// Lossy is true when at least one value changed.
	Lossy bool `json:"lossy"`
	// Tensors is the number of tensors converted to another dtype.
	Tensors   int          `json:"tensors"`
	MaxAbs    stats.Number `json:"max_abs_error"`
	MaxRelRMS stats.Number `json:"max_rel_rms_error"`
	// NonFinite counts the elements, over all tensors, that overflowed the
	// output dtype or lost a NaN/Inf; the two maxima are null (infinite)
	// when it is not 0.
	NonFinite int64         `json:"non_finite"`
	Worst     []WorstTensor `json:"worst"`
}

// WorstTensor is one converted tensor's error, in worst-first order.
type WorstTensor struct {
	Name        string       `json:"name"`
	SourceDType string       `json:"source_dtype"`
	DType       string       `json:"dtype"`
	MaxAbs      stats.Number `json:"max_abs_error"`
	RelRMS      stats.Number `json:"rel_rms_error"`
	Changed     int64        `json:"changed"`
	NonFinite   int64        `json:"non_finite"`
}

// MarshalJSON of ConvError writes its infinities as null, as every JSON
// output of glipctl does (stats.Number); NonFinite counts them.
func (c ConvError) MarshalJSON() ([]byte, error) {
	type plain struct {
		MaxAbs    stats.Number `json:"max_abs_error"`
		RelRMS    stats.Number `json:"rel_rms_error"`
		Changed   int64        `json:"changed"`
		NonFinite int64        `json:"non_finite"`
	}
	return json.Marshal(plain{stats.Number(c.MaxAbs), stats.Number(c.RelRMS), c.Changed, c.NonFinite})
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	_, err = w.Write(b)
	return err
}

// mdCell escapes a table cell.
func mdCell(s string) string {
	return strings.ReplaceAll(s, "|", `\|`)
}

func fnum(n stats.Number) string {
	if !n.Finite() {
		return "-"
	}
	return strconv.FormatFloat(float64(n), 'g', 6, 64)
}

func gnum(f stats.Number) string {
	v := float64(f)
	if math.IsInf(v, 1) {
		return "inf"
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

func shapeStr(s []int64) string { return ckpt.ShapeString(s) }

func floatsStr(v []float64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.FormatFloat(x, 'g', -1, 64)
	}
	return "[" + strings.Join(s, ", ") + "]"
}

// WriteMarkdown renders the report for people.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b bytes.Buffer
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("# glipctl convert report\n\n")
	p("| | |\n|---|---|\n")
	p("| source | `%s` (%s, %s bytes) |\n", mdCell(r.Source.Path), r.Source.Format, itoa(r.Source.Bytes))
	p("| source sha256 | `%s` |\n", r.Source.SHA256)
	p("| output | `%s` (%s, %s bytes) |\n", mdCell(r.Output.Path), r.Output.Format, itoa(r.Output.Bytes))
	p("| output sha256 | `%s` |\n", r.Output.SHA256)
	p("| layout | %s (detected %s) -> %s |\n", r.Layout.From, r.Layout.Detected, r.Layout.Output)
	p("| dtype | %s |\n", r.Output.DType)
	if g := r.Output.Graph; g != nil {
		p("| ONNX graph | input %s, %s semantics, opset %d, outputs %s, %d nodes, %d initializers (%s bytes) |\n",
			g.InputSize, g.Semantics, g.Opset, joinInts(g.OutIndices), g.Nodes, g.Initializers, itoa(g.InitializerBytes))
	}
	name := r.Arch.Model
	if name == "" {
		name = "no zoo model"
	} else {
		name = r.Arch.Display + ", " + name
	}
	p("| architecture | %s, out_indices %s (%s) |\n", r.Arch.Arch, joinInts(r.Arch.OutIndices), name)
	img := "unknown"
	if r.Arch.ImgSize > 0 {
		img = strconv.Itoa(r.Arch.ImgSize)
	}
	p("| image size | %s |\n", img)
	order := "RGB"
	if r.Preprocess.BGR {
		order = "BGR"
	}
	p("| preprocessing | %s, mean %s, std %s |\n", order, floatsStr(r.Preprocess.Mean), floatsStr(r.Preprocess.Std))
	p("| glipctl | %s |\n", r.GlipctlVersion)

	if e := r.ConversionError; e != nil {
		p("\n## Conversion error, worst first\n\n")
		p("%d tensors changed dtype; max abs error %s, max relative RMS error %s.\n\n", e.Tensors, gnum(e.MaxAbs), gnum(e.MaxRelRMS))
		p("| tensor | dtype | max abs error | rel RMS error | changed | non-finite |\n|---|---|---:|---:|---:|---:|\n")
		for _, t := range e.Worst {
			p("| %s | %s -> %s | %s | %s | %d | %d |\n", mdCell(t.Name), t.SourceDType, t.DType, gnum(t.MaxAbs), gnum(t.RelRMS), t.Changed, t.NonFinite)
		}
	}

	p("\n## Tensors (%d, %s bytes)\n\n", r.Totals.Kept, itoa(r.Totals.OutputBytes))
	p("| # | from | to | transform | shape | dtype | min | max | mean | std | absmax | zeros | nan | inf |\n")
	p("|---:|---|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for i, t := range r.Tensors {
		dt := t.DType
		if t.SourceDType != t.DType {
			dt = t.SourceDType + " -> " + t.DType
		}
		s := t.Stats
		p("| %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d | %d | %d |\n", i, mdCell(t.From), mdCell(t.To), t.Transform,
			shapeStr(t.Shape), dt, fnum(s.Min), fnum(s.Max), fnum(s.Mean), fnum(s.Std), fnum(s.AbsMax), s.Zeros, s.NaN, s.Inf)
	}

	p("\n## Dropped (%d tensors, %s bytes, never read)\n\n", r.Totals.Dropped, itoa(r.Totals.DroppedBytes))
	if len(r.Dropped) > 0 {
		p("| prefix | tensors | bytes |\n|---|---:|---:|\n")
		for _, g := range r.Dropped {
			p("| %s | %d | %s |\n", mdCell(g.Prefix), g.Count, itoa(g.Bytes))
		}
	}
	if e := r.Ecosystem; e != nil {
		p("\n## Target library\n\n")
		p("- input order: %s (source: %s)\n", e.InputOrder, e.SourceInputOrder)
		p("- window rule: %s: %s\n", e.WindowRule, e.WindowSummary)
		if len(e.Files) > 0 {
			p("- files: %s\n", strings.Join(e.Files, ", "))
		}
		for _, n := range e.Notes {
			p("- %s\n", n)
		}
	}
	if len(r.Warnings) > 0 {
		p("\n## Warnings\n\n")
		for _, w := range r.Warnings {
			p("- %s\n", w)
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}
