// Package convert converts GLIP Swin backbone checkpoints: the official
// GLIP naming to mmpretrain's (exactly as mmpretrain's
// tools/model_converters/glip_to_mmpretrain.py does it) or back, written as
// a PyTorch .pth, safetensors or GGUF file, with an optional dtype
// conversion, and a report of what was done; or as an ONNX graph of the
// backbone (internal/onnxgraph) holding the converted weights.
//
// A conversion streams: each kept tensor is read from the source in
// chunks, reordered and converted, and written; tensors that are dropped
// are never read. Statistics and conversion errors are accumulated while
// the values pass by.
package convert

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/glipctl/glipctl/internal/ckpt"
	"github.com/glipctl/glipctl/internal/ckpt/gguf"
	"github.com/glipctl/glipctl/internal/ckpt/onnx"
	"github.com/glipctl/glipctl/internal/ckpt/pth"
	"github.com/glipctl/glipctl/internal/ckpt/safetensors"
	"github.com/glipctl/glipctl/internal/digest"
	"github.com/glipctl/glipctl/internal/glip"
	"github.com/glipctl/glipctl/internal/stats"
	"github.com/glipctl/glipctl/internal/swin"
	"github.com/glipctl/glipctl/internal/zoo"
)

// Format is an output file format.
type Format string

// The output formats.
const (
	FormatPTH         Format = "pth"
	FormatSafetensors Format = "safetensors"
	FormatGGUF        Format = "gguf"
	FormatONNX        Format = "onnx"
)

// ParseFormat parses a --to value.
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(s) {
	case "pth", "pt", "torch", "pytorch":
		return FormatPTH, nil
	case "safetensors", "st":
		return FormatSafetensors, nil
	case "gguf":
		return FormatGGUF, nil
	case "onnx":
		return FormatONNX, nil
	}
	return "", fmt.Errorf("unknown output format %q (want pth, safetensors, gguf or onnx)", s)
}

// FormatFromPath tells the output format from a file name's extension
// (.pth, .pt, .safetensors, .gguf, .onnx).
func FormatFromPath(path string) (Format, bool) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".pth", ".pt":
		return FormatPTH, true
	case ".safetensors":
		return FormatSafetensors, true
	case ".gguf":
		return FormatGGUF, true
	case ".onnx":
		return FormatONNX, true
	}
	return "", false
}

// Options are the choices of a conversion.
type Options struct {
	Format Format
	// From is the source layout (LayoutOfficial, LayoutMMPretrain), or ""
	// to detect it.
	From glip.Layout
	// Layout is the output layout (LayoutMMPretrain when ""); the hf,
	// hf-model and timm layouts are directories (DirLayout).
	Layout glip.Layout
	DType  DTypeMode
	// InputOrder is the output's input order ("": RGB for the hf,
	// hf-model, timm and torchvision layouts, else BGR);
	// SourceInputOrder the source's where its metadata does not say.
	InputOrder, SourceInputOrder glip.InputOrder
	// Version is glipctl's version, recorded in the output and the report.
	Version string
	// Progress, when set, is called as output bytes are written with the
	// bytes so far and the expected total.
	Progress func(written, total int64)
	// Match finds the zoo entry of an architecture; nil uses zoo.Match.
	Match func(swin.Arch) (zoo.Entry, bool)
	// Graph are the choices of an ONNX output.
	Graph GraphOptions
}

// GraphOptions are the choices of an ONNX output (see onnxgraph.Options).
type GraphOptions struct {
	// Height and Width are the input size; 0 means the zoo model's
	// img_size.
	Height, Width int
	// OutIndices are the output stages; nil means swin.DefaultOutIndices.
	OutIndices []int
	// Semantics is the backbone semantics baked into the graph ("" is
	// mmpretrain).
	Semantics swin.Semantics
	// Opset is 13..17; 0 means 17.
	Opset int
}

// Check validates the combination of options (the errors are usage
// mistakes).
func (o Options) Check() error {
	switch o.Format {
	case FormatPTH, FormatSafetensors, FormatGGUF, FormatONNX:
	default:
		return fmt.Errorf("unknown output format %q (want pth, safetensors, gguf or onnx)", o.Format)
	}
	mode := o.DType
	if mode == "" {
		mode = Keep
	}
	if _, err := ParseDTypeMode(string(mode)); err != nil {
		return err
	}
	if o.Format == FormatONNX {
		if err := o.checkGraph(mode); err != nil {
			return err
		}
	}
	if mode == ToQ8_0 && o.Format != FormatGGUF {
		return &OptionError{Option: "dtype", Err: fmt.Errorf("q8_0 is only for GGUF output, not %s", o.Format)}
	}
	l := o.Layout
	if l == "" {
		l = glip.LayoutMMPretrain
	}
	if _, err := glip.ParseLayout(string(l)); err != nil {
		return &OptionError{Option: "layout", Err: err}
	}
	switch {
	case o.Format == FormatGGUF && l != glip.LayoutMMPretrain:
		return &OptionError{Option: "layout", Err: fmt.Errorf("GGUF output is in the mmpretrain layout only (the %s layout's names are longer than GGUF's 63 bytes)", l)}
	case DirLayout(l) && o.Format != FormatSafetensors:
		return &OptionError{Option: "layout", Err: fmt.Errorf("the %s layout is a directory (model.safetensors and config.json), not a %s file", l, o.Format)}
	}
	if _, err := inputOrder(l, o.InputOrder); err != nil {
		return &OptionError{Option: "input-order", Err: err}
	}
	switch o.From {
	case "", "auto":
	default:
		if _, err := glip.ParseLayout(string(o.From)); err != nil {
			return &OptionError{Option: "from", Err: err}
		}
	}
	return nil
}

// Source describes the file a checkpoint was read from, for the output's
// metadata and the report.
type Source struct {
	Path string
	Size int64
	// SHA256 returns the file's SHA-256; it may block until a concurrent
	// hash is done. Nil leaves the hash empty.
	SHA256 func() (digest.Digest, error)
}

func (s Source) sha256() (digest.Digest, error) {
	if s.SHA256 == nil {
		return digest.Digest{}, nil
	}
	return s.SHA256()
}

// Where a report's source sha256 came from (SourceReport.SHA256Source).
const (
	SHA256Computed = "computed" // the source was read and hashed
	SHA256Cached   = "cache"    // the digest cache had it
)

func sha256Source(d digest.Digest) string {
	switch {
	case d.SHA256 == "":
		return ""
	case d.Cached:
		return SHA256Cached
	}
	return SHA256Computed
}

// Convert converts checkpoint c (read from src) and writes the result to w
// in opts.Format. It returns the report; its output path is left empty.
func Convert(ctx context.Context, c *ckpt.Checkpoint, src Source, w io.Writer, opts Options) (*Report, error) {
	r, err := convert(ctx, c, src, w, opts, nil)
	if err != nil {
		return nil, err
	}
	if err := r.setSourceSHA256(src); err != nil {
		return nil, srcError(ctx, src, err)
	}
	return r, nil
}

// srcError is err of a conversion from src: the context's error if it is
// done, a *WriteError as is, else err prefixed with the source's path.
func srcError(ctx context.Context, src Source, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	var we *WriteError
	if errors.As(err, &we) || src.Path == "" {
		return err
	}
	return fmt.Errorf("%s: %w", src.Path, err)
}

// setSourceSHA256 fills in the source's SHA-256 if the conversion did not
// need it, waiting for it.
func (r *Report) setSourceSHA256(src Source) error {
	if r.Source.SHA256 != "" {
		return nil
	}
	d, err := src.sha256()
	if err != nil {
		return err
	}
	r.Source.SHA256, r.Source.SHA256Source = d.SHA256, sha256Source(d)
	return nil
}

// convert is Convert, except that the report's source SHA-256 is left
// empty unless the output format records it (safetensors, GGUF): writing
// a .pth does not wait for the source's hash. written, if set, is called
// once every byte of the output has been written to w.
func convert(ctx context.Context, c *ckpt.Checkpoint, src Source, w io.Writer, opts Options, written func()) (*Report, error) {
	if err := opts.Check(); err != nil {
		return nil, err
	}
	if ctx == nil {
		ctx = context.Background()
	}
	fail := func(err error) (*Report, error) {
		return nil, srcError(ctx, src, err)
	}
	mode := opts.DType
	if opts.Format == FormatONNX && (mode == "" || mode == Keep) {
		mode = ToF32 // an ONNX graph holds f32 (or f16) weights
	}
	plan, err := NewPlan(c, PlanOptions{From: opts.From, Layout: opts.Layout, Mode: mode, Format: opts.Format, Match: opts.Match,
		InputOrder: opts.InputOrder, SourceInputOrder: opts.SourceInputOrder})
	if err != nil {
		return fail(err)
	}
	var datas []*outData
	var tensors []*ckpt.Tensor
	var total int64
	for _, o := range plan.Outputs {
		d, err := newOutData(ctx, o)
		if err != nil {
			return fail(err)
		}
		datas = append(datas, d)
		tensors = append(tensors, d.tensor())
		total += d.size()
	}
	shared := &scratch{}
	pipe := newStatsPipe()
	defer pipe.close()
	for _, d := range datas {
		d.sh, d.pipe = shared, pipe
	}

	aw := newAsyncWriter(w)
	closed := false
	defer func() {
		if !closed {
			aw.Close()
		}
	}()
	cw := &countingWriter{w: aw, total: total, progress: opts.Progress}
	var srcSHA digest.Digest
	var graph *GraphReport
	switch opts.Format {
	case FormatPTH:
		po := pth.WriteOptions{}
		if plan.Layout == glip.LayoutOfficial {
			po.Container = "model"
		}
		err = pth.Write(cw, tensors, po)
	case FormatSafetensors:
		if srcSHA, err = src.sha256(); err != nil {
			return fail(err)
		}
		err = safetensors.Write(cw, tensors, plan.safetensorsMetadata(src, srcSHA.SHA256, opts.Version))
	case FormatGGUF:
		if srcSHA, err = src.sha256(); err != nil {
			return fail(err)
		}
		err = gguf.Write(cw, plan.ggufMetadata(src, srcSHA.SHA256, opts.Version), tensors, gguf.WriteOptions{Alignment: gguf.DefaultAlign, ShortNames: true})
	case FormatONNX:
		if srcSHA, err = src.sha256(); err != nil {
			return fail(err)
		}
		var m *onnx.Model
		if m, err = plan.onnxModel(tensors, src, srcSHA.SHA256, opts); err != nil {
			return fail(err)
		}
		datas = usedData(datas, m)
		graph = graphReport(m)
		err = onnx.Write(cw, m)
	}
	if err != nil {
		return fail(err)
	}
	closed = true
	if err := aw.Close(); err != nil {
		return fail(&WriteError{unwrapPath(err)})
	}
	if written != nil {
		written()
	}
	if opts.Progress != nil {
		opts.Progress(cw.n, cw.n)
	}
	if err := pipe.close(); err != nil {
		return fail(err)
	}
	for _, d := range datas {
		if err := d.complete(); err != nil {
			return fail(err)
		}
	}
	r := plan.report(datas, opts)
	r.Source = SourceReport{Path: src.Path, Format: c.Format, Bytes: src.Size, SHA256: srcSHA.SHA256,
		SHA256Source: sha256Source(srcSHA), StateDictPrefix: plan.Prefix}
	r.Output.Format = opts.Format
	r.Output.Graph = graph
	r.Output.Bytes = cw.n
	r.Output.SHA256 = hex.EncodeToString(aw.Sum())
	return r, nil
}

// countingWriter counts what is written and reports progress.
type countingWriter struct {
	w        io.Writer
	n, total int64
	progress func(int64, int64)
}

// WriteError is an error writing the output (as opposed to reading the
// source).
type WriteError struct{ Err error }

func (e *WriteError) Error() string { return "writing: " + e.Err.Error() }
func (e *WriteError) Unwrap() error { return e.Err }

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	if err != nil {
		err = &WriteError{unwrapPath(err)}
	}
	c.n += int64(n)
	if c.progress != nil {
		c.progress(c.n, max(c.total, c.n))
	}
	return n, err
}

// archJSON is the architecture as recorded in safetensors metadata.
type archJSON struct {
	swin.Arch
	OutIndices []int `json:"out_indices"`
	ImgSize    int   `json:"img_size,omitempty"`
}

func (p *Plan) safetensorsMetadata(src Source, srcSHA, version string) map[string]string {
	arch, _ := json.Marshal(archJSON{Arch: p.Arch, OutIndices: nonNil(p.OutIndices), ImgSize: p.ImgSize()})
	pp, _ := json.Marshal(p.OutputPreprocess())
	m := map[string]string{
		"format":          "pt",
		"glipctl_version": version,
		"source_file":     filepath.Base(src.Path),
		"source_sha256":   srcSHA,
		"layout":          string(p.Layout),
		"dtype":           string(p.Mode),
		"arch":            string(arch),
		"preprocess":      string(pp),
	}
	if p.Model != nil {
		m["model"] = p.Model.Name
	}
	if p.Layout.Ecosystem() || p.Layout == glip.LayoutMMDet {
		m[glip.MetaInputOrder] = string(p.InputOrder)
		m[glip.MetaWindowRule] = p.Window.ID
	}
	return m
}

func nonNil(v []int) []int {
	if v == nil {
		return []int{}
	}
	return v
}

func u32s(v []int) gguf.Value {
	items := make([]gguf.Value, len(v))
	for i, x := range v {
		items[i] = gguf.Uint32(uint32(x))
	}
	return gguf.Array(gguf.TypeUint32, items...)
}

func f32s(v []float64) gguf.Value {
	items := make([]gguf.Value, len(v))
	for i, x := range v {
		items[i] = gguf.Float32(float32(x))
	}
	return gguf.Array(gguf.TypeFloat32, items...)
}

// ggufMetadata is the typed metadata of a GGUF output: the architecture
// under "swin.", the preprocessing, and glipctl's provenance.
func (p *Plan) ggufMetadata(src Source, srcSHA, version string) []gguf.KV {
	name := "glip-swin"
	if p.Model != nil {
		name = p.Model.Name
	}
	a := p.Arch
	pp := p.Preprocess()
	kvs := []gguf.KV{
		{Key: "general.architecture", Value: gguf.String("swin")},
		{Key: "general.name", Value: gguf.String(name)},
		{Key: "general.alignment", Value: gguf.Uint32(gguf.DefaultAlign)},
		{Key: "swin.embed_dim", Value: gguf.Uint32(uint32(a.EmbedDim))},
		{Key: "swin.depths", Value: u32s(a.Depths)},
		{Key: "swin.num_heads", Value: u32s(a.Heads)},
		{Key: "swin.window_size", Value: gguf.Uint32(uint32(a.Window))},
		{Key: "swin.patch_size", Value: gguf.Uint32(uint32(a.PatchSize))},
		{Key: "swin.in_chans", Value: gguf.Uint32(uint32(a.InChans))},
		{Key: "swin.mlp_ratio", Value: gguf.Uint32(uint32(a.MLPRatio))},
		{Key: "swin.out_indices", Value: u32s(p.OutIndices)},
	}
	if s := p.ImgSize(); s > 0 {
		kvs = append(kvs, gguf.KV{Key: "swin.image_size", Value: gguf.Uint32(uint32(s))})
	}
	kvs = append(kvs,
		gguf.KV{Key: "swin.image_mean", Value: f32s(pp.Mean)},
		gguf.KV{Key: "swin.image_std", Value: f32s(pp.Std)},
		gguf.KV{Key: "swin.image_bgr", Value: gguf.Bool(pp.BGR)},
		gguf.KV{Key: "glipctl.version", Value: gguf.String(version)},
		gguf.KV{Key: "glipctl.layout", Value: gguf.String(string(p.Layout))},
		gguf.KV{Key: "glipctl.dtype", Value: gguf.String(string(p.Mode))},
		gguf.KV{Key: "glipctl.source_file", Value: gguf.String(filepath.Base(src.Path))},
		gguf.KV{Key: "glipctl.source_sha256", Value: gguf.String(srcSHA)},
	)
	return kvs
}

// report assembles the report from the plan and the written tensors.
func (p *Plan) report(datas []*outData, opts Options) *Report {
	r := &Report{
		GlipctlVersion: opts.Version,
		Layout:         LayoutReport{Detected: p.Detected, From: p.From, Output: p.Layout},
		Arch:           ArchReport{Arch: p.Arch, OutIndices: nonNil(p.OutIndices), ImgSize: p.ImgSize()},
		Preprocess:     p.OutputPreprocess(),
		Dropped:        p.droppedGroups(),
		Warnings:       append([]string{}, p.Warnings...),
		Tensors:        []TensorReport{},
	}
	r.Output.DType = p.Mode
	if p.Layout.Ecosystem() || p.Layout == glip.LayoutMMDet || p.From.Ecosystem() {
		r.Ecosystem = &EcosystemReport{InputOrder: p.InputOrder, SourceInputOrder: p.SourceInputOrder,
			WindowRule: p.Window.ID, WindowSummary: p.Window.Summary, WindowAsGLIP: p.Window.SameAsGLIP,
			NoSlot: append([]string{}, p.NoSlot...), Notes: append([]string{}, p.Notes...)}
	}
	if p.Model != nil {
		r.Arch.Model, r.Arch.Display = p.Model.Name, p.Model.Display
	}
	if r.Dropped == nil {
		r.Dropped = []droppedGroup{}
	}
	var worst []WorstTensor
	var summary ErrorSummary
	for _, d := range datas {
		o := d.o
		tr := TensorReport{
			From: o.From, To: o.To, Transform: o.Transform, Shape: nonNil64(o.Shape()),
			SourceDType: o.Src.DType.String(), DType: o.DType.String(), Bytes: d.size(),
			Stats: d.st.Stats().JSON(),
		}
		r.Totals.Kept++
		r.Totals.KeptBytes += o.Src.NBytes()
		r.Totals.OutputBytes += d.size()
		if d.lossy {
			e := d.er.result()
			tr.Error = &e
			summary.Tensors++
			if e.Changed > 0 {
				summary.Lossy = true
			}
			summary.MaxAbs = stats.Number(max(float64(summary.MaxAbs), e.MaxAbs))
			summary.MaxRelRMS = stats.Number(max(float64(summary.MaxRelRMS), e.RelRMS))
			summary.NonFinite += e.NonFinite
			worst = append(worst, WorstTensor{Name: o.To, SourceDType: tr.SourceDType, DType: tr.DType,
				MaxAbs: stats.Number(e.MaxAbs), RelRMS: stats.Number(e.RelRMS), Changed: e.Changed, NonFinite: e.NonFinite})
		}
		r.Tensors = append(r.Tensors, tr)
	}
	for _, g := range r.Dropped {
		r.Totals.Dropped += g.Count
		r.Totals.DroppedBytes += g.Bytes
	}
	if summary.Tensors > 0 {
		sort.SliceStable(worst, func(i, j int) bool {
			a, b := worst[i], worst[j]
			if a.RelRMS != b.RelRMS {
				return a.RelRMS > b.RelRMS
			}
			return a.MaxAbs > b.MaxAbs
		})
		summary.Worst = worst
		r.ConversionError = &summary
	}
	return r
}

func nonNil64(v []int64) []int64 {
	if v == nil {
		return []int64{}
	}
	return v
}

// scratch holds the conversion buffers, shared by the tensors of one
// conversion (the writers read one tensor at a time).
type scratch struct {
	mu   sync.Mutex
	raw  []byte
	vals []float64
	acc  accountBufs // produce's own accounting, without a pipe
	out  []byte
}

// itoa is strconv.Itoa for the renderers.
func itoa(i int64) string { return strconv.FormatInt(i, 10) }

// OptionError is an option of a conversion that cannot be used: Option
// names it as Options' field does, lower case ("dtype", "layout", "from").
type OptionError struct {
	Option string
	Err    error
}

func (e *OptionError) Error() string { return e.Option + ": " + e.Err.Error() }
func (e *OptionError) Unwrap() error { return e.Err }
