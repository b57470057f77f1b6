package convert

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/glipctl/glipctl/internal/atomicfile"
	"github.com/glipctl/glipctl/internal/ckpt/formats"
	"github.com/glipctl/glipctl/internal/digest"
	"github.com/glipctl/glipctl/internal/glip"
)

// DirLayout tells whether layout l is written as a directory: the hf and
// hf-model layouts (model.safetensors, config.json,
// preprocessor_config.json, what transformers' from_pretrained reads) and
// timm's (model.safetensors and timm's config.json).
func DirLayout(l glip.Layout) bool {
	return l == glip.LayoutHF || l == glip.LayoutHFModel || l == glip.LayoutTimm
}

// WeightsFile is the name of the weights in a directory output.
const WeightsFile = "model.safetensors"

// convertDir is ConvertFile for a directory layout: the files are written
// into a hidden temporary directory beside dst, which is renamed to dst at
// the end, with the reports committed after it (atomicfile); an existing
// dst is moved aside first with Force and removed once the new one and the
// reports are in place. On any error nothing is left, and an existing dst
// is as it was.
func convertDir(ctx context.Context, src, dst string, opts FileOptions) (rep *Report, err error) {
	opts.Format = FormatSafetensors
	if err := opts.Options.Check(); err != nil {
		return nil, err
	}
	jsonPath, mdPath := ReportPaths(dst, opts.ReportBase)
	fi, statErr := os.Lstat(dst)
	switch {
	case statErr == nil && !fi.IsDir():
		return nil, fmt.Errorf("%s exists and is not a directory", dst)
	case statErr == nil && !opts.Force:
		return nil, &atomicfile.Error{Path: dst, Err: atomicfile.ErrExist}
	}
	fopts := atomicfile.Options{Replace: opts.Force, NoSync: opts.NoSync}
	var reports []*atomicfile.File
	defer func() {
		for _, f := range reports {
			f.Abort()
		}
	}()
	for _, p := range []string{jsonPath, mdPath} {
		f, err := atomicfile.Create(ctx, p, fopts)
		if err != nil {
			return nil, targetError(err)
		}
		reports = append(reports, f)
	}
	si, err := os.Stat(src)
	if err != nil {
		return nil, err
	}
	d, err := opts.Digests.File(ctx, formats.HashPath(src))
	if opts.Rehash {
		d, err = opts.Digests.Rehash(ctx, formats.HashPath(src))
	}
	if err != nil {
		return nil, fmt.Errorf("%s: hashing: %w", src, unwrapPath(err))
	}
	source := Source{Path: src, Size: si.Size(), SHA256: func() (digest.Digest, error) { return d, nil }}
	c, err := formats.Open(src, opts.Open)
	if err != nil {
		return nil, err
	}
	defer c.Close()

	tmpDir, err := hiddenDir(dst, "tmp")
	if err != nil {
		return nil, fmt.Errorf("%s: cannot write: %w", dst, unwrapPath(err))
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmpDir)
		}
	}()
	f, err := os.OpenFile(filepath.Join(tmpDir, WeightsFile), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
	if err != nil {
		return nil, fmt.Errorf("%s: cannot write: %w", dst, unwrapPath(err))
	}
	rep, err = convert(ctx, c, source, f, opts.Options, nil)
	if err == nil && !opts.NoSync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("%s: writing: %w", dst, unwrapPath(cerr))
	}
	if err != nil {
		var we *WriteError
		if errors.As(err, &we) {
			err = fmt.Errorf("%s: %w", dst, err)
		}
		return nil, err
	}
	if err = rep.setSourceSHA256(source); err != nil {
		return nil, srcError(ctx, source, err)
	}
	rep.Output.Path = dst
	files, err := dirConfigs(rep, opts.Options.Layout)
	if err != nil {
		return nil, err
	}
	names := []string{WeightsFile}
	for _, cf := range files {
		if err = writeNewFile(filepath.Join(tmpDir, cf.name), cf.data, !opts.NoSync); err != nil {
			return nil, fmt.Errorf("%s: cannot write %s: %w", dst, cf.name, unwrapPath(err))
		}
		names = append(names, cf.name)
	}
	rep.Ecosystem.Files = names
	rep.Output.Format = "directory"

	var js, md bytes.Buffer
	if err = rep.WriteJSON(&js); err != nil {
		return nil, err
	}
	if err = rep.WriteMarkdown(&md); err != nil {
		return nil, err
	}
	for i, data := range [][]byte{js.Bytes(), md.Bytes()} {
		if _, err = reports[i].Write(data); err != nil {
			return nil, targetError(err)
		}
	}
	// The directory, then the reports.
	var old string
	if _, serr := os.Lstat(dst); serr == nil {
		if !opts.Force {
			return nil, &atomicfile.Error{Path: dst, Err: atomicfile.ErrExist}
		}
		if old, err = hiddenName(dst, "bak"); err != nil {
			return nil, err
		}
		if err = os.Rename(dst, old); err != nil {
			return nil, fmt.Errorf("%s: cannot replace: %w", dst, unwrapLink(err))
		}
	}
	if err = os.Rename(tmpDir, dst); err != nil {
		if old != "" {
			os.Rename(old, dst)
		}
		return nil, fmt.Errorf("%s: cannot create: %w", dst, unwrapLink(err))
	}
	if err = atomicfile.Commit(reports...); err != nil {
		os.RemoveAll(dst)
		if old != "" {
			os.Rename(old, dst)
		}
		return nil, targetError(err)
	}
	if old != "" {
		os.RemoveAll(old)
	}
	return rep, nil
}

// hiddenName is a hidden name beside target: "." + base + "." + kind +
// "-" + 12 hex digits.
func hiddenName(target, kind string) (string, error) {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return filepath.Join(filepath.Dir(target), "."+filepath.Base(target)+"."+kind+"-"+hex.EncodeToString(b[:])), nil
}

// hiddenDir creates a new hidden directory beside target, with the mode a
// new directory gets (0777 less the umask).
func hiddenDir(target, kind string) (string, error) {
	for i := 0; ; i++ {
		name, err := hiddenName(target, kind)
		if err != nil {
			return "", err
		}
		err = os.Mkdir(name, 0o777)
		if errors.Is(err, fs.ErrExist) && i < 10 {
			continue
		}
		return name, err
	}
}

func unwrapLink(err error) error {
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}

// writeNewFile writes a new file (synced when sync).
func writeNewFile(path string, data []byte, sync bool) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

type configFile struct {
	name string
	data []byte
}

// dirConfigs are the configuration files of a directory output, made from
// its report.
func dirConfigs(r *Report, l glip.Layout) ([]configFile, error) {
	var out []configFile
	add := func(name string, v any) error {
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		out = append(out, configFile{name, append(b, '\n')})
		return nil
	}
	var err error
	switch l {
	case glip.LayoutHF, glip.LayoutHFModel:
		if err = add("config.json", hfConfig(r, l)); err == nil {
			err = add("preprocessor_config.json", hfPreprocessorConfig(r))
		}
	case glip.LayoutTimm:
		err = add("config.json", timmConfig(r))
	}
	return out, err
}

// outputTorchDType is torch's name of the output's float dtype.
func outputTorchDType(r *Report) string {
	for _, t := range r.Tensors {
		switch t.DType {
		case "F16":
			return "float16"
		case "BF16":
			return "bfloat16"
		case "F32":
			return "float32"
		}
	}
	return "float32"
}

func imgSizeOf(r *Report) int {
	if r.Arch.ImgSize > 0 {
		return r.Arch.ImgSize
	}
	return imgSizeFor(r.Arch.Arch)
}

// glipctlMeta is the block of glipctl's facts in a directory's configs
// (transformers keeps unknown config keys as attributes; timm ignores
// them).
func glipctlMeta(r *Report) map[string]any {
	return map[string]any{
		glip.MetaInputOrder:   string(r.Ecosystem.InputOrder),
		glip.MetaWindowRule:   r.Ecosystem.WindowRule,
		"window_rule_summary": r.Ecosystem.WindowSummary,
		"source_file":         filepath.Base(r.Source.Path),
		"source_sha256":       r.Source.SHA256,
		"weights_sha256":      r.Output.SHA256,
		"version":             r.GlipctlVersion,
		"no_slot":             nonNilS(r.Ecosystem.NoSlot),
	}
}

func nonNilS(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

// hfConfig is transformers' SwinConfig (configuration_swin.py) of the
// backbone: SwinBackbone with out_features for GLIP's output stages, or
// SwinModel.
func hfConfig(r *Report, l glip.Layout) map[string]any {
	a := r.Arch.Arch
	stages := []string{"stem"}
	for k := range a.Depths {
		stages = append(stages, glip.HFStageName(k))
	}
	outs := []string{}
	idx := []int{}
	arch := "SwinBackbone"
	if l == glip.LayoutHF {
		for _, k := range r.Arch.OutIndices {
			outs = append(outs, glip.HFStageName(k))
			idx = append(idx, k+1)
		}
	} else {
		arch = "SwinModel"
		outs = append(outs, glip.HFStageName(len(a.Depths)-1))
		idx = append(idx, len(a.Depths))
	}
	return map[string]any{
		"architectures":                []string{arch},
		"model_type":                   "swin",
		"image_size":                   imgSizeOf(r),
		"patch_size":                   a.PatchSize,
		"num_channels":                 a.InChans,
		"embed_dim":                    a.EmbedDim,
		"depths":                       a.Depths,
		"num_heads":                    a.Heads,
		"num_layers":                   len(a.Depths),
		"hidden_size":                  a.EmbedDim << max(len(a.Depths)-1, 0),
		"window_size":                  a.Window,
		"mlp_ratio":                    float64(a.MLPRatio),
		"qkv_bias":                     true,
		"hidden_dropout_prob":          0.0,
		"attention_probs_dropout_prob": 0.0,
		"drop_path_rate":               0.0,
		"hidden_act":                   "gelu",
		"use_absolute_embeddings":      false,
		"initializer_range":            0.02,
		"layer_norm_eps":               1e-5,
		"encoder_stride":               32,
		"stage_names":                  stages,
		"out_features":                 outs,
		"out_indices":                  idx,
		"torch_dtype":                  outputTorchDType(r),
		"glipctl":                      glipctlMeta(r),
	}
}

// hfPreprocessorConfig is the image processor of an HF output
// (ViTImageProcessor, which transformers' Swin checkpoints use): resize to
// the model's size with PIL's bilinear filter (GLIP's), rescale to [0, 1]
// and normalise with ImageNet's mean and std for an RGB export; for a BGR
// one, GLIP's mean and std on 0..255 (the processor does not reorder
// channels: the caller must feed BGR).
func hfPreprocessorConfig(r *Report) map[string]any {
	s := imgSizeOf(r)
	m := map[string]any{
		"image_processor_type": "ViTImageProcessor",
		"do_resize":            true,
		"size":                 map[string]int{"height": s, "width": s},
		"resample":             2,
		"do_rescale":           true,
		"rescale_factor":       1.0 / 255,
		"do_normalize":         true,
		"image_mean":           r.Preprocess.Mean,
		"image_std":            r.Preprocess.Std,
	}
	if r.Ecosystem.InputOrder != glip.InputRGB {
		m["do_rescale"] = false
	}
	return m
}

// timmConfig is timm's config.json (timm/models/_hub.py): the
// architecture, num_features, the pretrained_cfg with the input size,
// mean, std and interpolation, and model_args with the architecture.
func timmConfig(r *Report) map[string]any {
	a := r.Arch.Arch
	name := "swin_tiny_patch4_window7_224"
	if a.Window == 12 {
		name = "swin_large_patch4_window12_384"
	}
	s := imgSizeOf(r)
	last := s / max(a.PatchSize, 1) >> max(len(a.Depths)-1, 0)
	return map[string]any{
		"architecture": name,
		"num_classes":  0,
		"num_features": a.EmbedDim << max(len(a.Depths)-1, 0),
		"global_pool":  "avg",
		"model_args": map[string]any{
			"img_size": s, "patch_size": a.PatchSize, "in_chans": a.InChans, "embed_dim": a.EmbedDim,
			"depths": a.Depths, "num_heads": a.Heads, "window_size": a.Window, "mlp_ratio": float64(a.MLPRatio),
		},
		"pretrained_cfg": map[string]any{
			"tag":              "glip",
			"input_size":       []int{a.InChans, s, s},
			"fixed_input_size": true,
			"interpolation":    "bilinear",
			"crop_pct":         1.0,
			"crop_mode":        "center",
			"mean":             r.Preprocess.Mean,
			"std":              r.Preprocess.Std,
			"num_classes":      0,
			"pool_size":        []int{last, last},
			"first_conv":       "patch_embed.proj",
			"classifier":       "head.fc",
			"license":          "mit",
		},
		"glipctl": glipctlMeta(r),
	}
}
