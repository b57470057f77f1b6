package forward

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/glipctl/glipctl/internal/atomicfile"
	"github.com/glipctl/glipctl/internal/ckpt"
	"github.com/glipctl/glipctl/internal/ckpt/safetensors"
	"github.com/glipctl/glipctl/internal/swin"
)

// Dataset mode (glipctl forward --files-from LIST --out-dir DIR) extracts
// the features of many inputs, one features file per input, in shards that
// may run on several machines into one shared directory:
//
//   - the inputs are the lines of LIST (blank lines and lines starting with
//     "#" skipped), in order; shard I of N takes the contiguous slice
//     [I*n/N, (I+1)*n/N) of the n inputs (0-based), so the shards are
//     disjoint and together cover the list;
//   - input k's features go to DIR/OutputName(k): its base name, with
//     "-" and 8 hex digits of the SHA-256 of its path when another input
//     of the list has the same base name, then ".safetensors"; tensors
//     "stage{K}"; the metadata records the input's path and SHA-256 and the
//     run's Fingerprint (model, semantics, preprocessing, stages);
//   - every output is written atomically, so a file in DIR is whole or
//     absent. A rerun skips an input whose output opens, holds every stage
//     and records the same input SHA-256 and fingerprint; anything else
//     (missing, corrupt, made by another configuration) is done again;
//   - each shard writes its manifest DIR/manifest-I-of-N.jsonl last: one
//     JSON object per input of the shard, in input order (input path and
//     SHA-256, output file, and per stage its shape and statistics),
//     computed from the features themselves, so an interrupted run
//     followed by a rerun writes the same manifest, byte for byte, as an
//     uninterrupted run.

// ReadList reads an input list: one path per line; blank lines and lines
// starting with "#" are skipped, surrounding white space trimmed.
func ReadList(r io.Reader) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, line)
	}
	return out, sc.Err()
}

// Shard is one of N disjoint slices of an input list.
type Shard struct {
	Index, Count int
}

// ShardIndexEnv are the environment variables an index-less "--shard /N"
// takes its index from, in order: Kubernetes Indexed Jobs, Slurm job
// arrays.
var ShardIndexEnv = []string{"JOB_COMPLETION_INDEX", "SLURM_ARRAY_TASK_ID"}

// ParseShard parses "I/N" (0 <= I < N) or "/N", whose index comes from the
// first of ShardIndexEnv that getenv finds set.
func ParseShard(s string, getenv func(string) string) (Shard, error) {
	is, ns, ok := strings.Cut(s, "/")
	if !ok {
		return Shard{}, fmt.Errorf("%q is not I/N", s)
	}
	n, err := strconv.Atoi(ns)
	if err != nil || n < 1 {
		return Shard{}, fmt.Errorf("%q: the shard count must be a positive number", s)
	}
	if is == "" {
		for _, name := range ShardIndexEnv {
			if v := getenv(name); v != "" {
				is = v
				break
			}
		}
		if is == "" {
			return Shard{}, fmt.Errorf("%q: no shard index: none of %s is set", s, strings.Join(ShardIndexEnv, ", "))
		}
	}
	i, err := strconv.Atoi(strings.TrimSpace(is))
	if err != nil || i < 0 || i >= n {
		return Shard{}, fmt.Errorf("shard index %q is not in 0..%d", is, n-1)
	}
	return Shard{Index: i, Count: n}, nil
}

// Range is the shard's slice [lo, hi) of n inputs.
func (s Shard) Range(n int) (lo, hi int) {
	return s.Index * n / s.Count, (s.Index + 1) * n / s.Count
}

// ManifestName is the shard's manifest file name.
func (s Shard) ManifestName() string {
	return fmt.Sprintf("manifest-%d-of-%d.jsonl", s.Index, s.Count)
}

// OutputNames returns the features file name of each input of the whole
// list (see the dataset rules above); it does not depend on the shard.
func OutputNames(paths []string) []string {
	count := map[string]int{}
	for _, p := range paths {
		count[filepath.Base(p)]++
	}
	out := make([]string, len(paths))
	for i, p := range paths {
		b := filepath.Base(p)
		if count[b] > 1 {
			h := sha256.Sum256([]byte(p))
			b += "-" + hex.EncodeToString(h[:4])
		}
		out[i] = b + ".safetensors"
	}
	return out
}

// ManifestEntry is one line of a shard's manifest.
type ManifestEntry struct {
	Input       string         `json:"input"`
	InputSHA256 string         `json:"input_sha256"`
	Output      string         `json:"output"`
	Stages      []StageSummary `json:"stages"`
}

// DatasetOptions are a dataset run's settings.
type DatasetOptions struct {
	Options
	// Paths is the whole input list; Shard picks this run's slice.
	Paths []string
	Shard Shard
	// OutDir receives the features files and the manifest.
	OutDir string
	// Fingerprint describes everything besides the input that decides the
	// features (model identity, semantics, preprocessing, stages); it goes
	// into each output's metadata and decides which outputs a rerun keeps.
	Fingerprint map[string]string
	// Progress, when not nil, is called after each input of the shard with
	// the number done (kept or computed) and the shard's size.
	Progress func(done, total int)
}

// DatasetResult sums up a dataset run.
type DatasetResult struct {
	Manifest string // the manifest's path
	Inputs   int    // inputs of the shard
	Computed int    // inputs run
	Kept     int    // inputs whose complete output was kept
}

// RunDataset runs the model on the shard's inputs that lack a valid
// output, writes their features files, then the shard's manifest.
func RunDataset(ctx context.Context, m *swin.Model, opts DatasetOptions) (*DatasetResult, error) {
	names := OutputNames(opts.Paths)
	lo, hi := opts.Shard.Range(len(opts.Paths))
	res := &DatasetResult{Manifest: filepath.Join(opts.OutDir, opts.Shard.ManifestName()), Inputs: hi - lo}
	entries := make([]*ManifestEntry, hi-lo)
	var todo []Input
	var todoAt []int // index into entries
	done := 0
	for k := lo; k < hi; k++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		p := opts.Paths[k]
		sum, err := fileSHA256(p)
		if err != nil {
			return nil, err
		}
		out := filepath.Join(opts.OutDir, names[k])
		if e := keptEntry(p, sum, out, names[k], opts); e != nil {
			entries[k-lo] = e
			res.Kept++
			done++
			if opts.Progress != nil {
				opts.Progress(done, res.Inputs)
			}
			continue
		}
		entries[k-lo] = &ManifestEntry{Input: p, InputSHA256: sum, Output: names[k]}
		todo = append(todo, Input{Path: p, Label: names[k], NPY: strings.EqualFold(filepath.Ext(p), ".npy")})
		todoAt = append(todoAt, k-lo)
	}
	i := 0
	err := Run(ctx, m, todo, opts.Options, func(r *Result) error {
		e := entries[todoAt[i]]
		i++
		var ts []*ckpt.Tensor
		for j, f := range r.Features {
			// One input per file: its stages are "stage{K}".
			s := r.Stages[j]
			s.Name = fmt.Sprintf("stage%d", f.Stage)
			t, err := ckpt.FromFloat32(s.Name, f.Shape(), f.Data)
			if err != nil {
				return err
			}
			ts = append(ts, t)
			e.Stages = append(e.Stages, s)
		}
		meta := map[string]string{"glipctl.input": e.Input, "glipctl.input_sha256": e.InputSHA256}
		for k, v := range opts.Fingerprint {
			meta[k] = v
		}
		f, err := WriteFeatures(ctx, filepath.Join(opts.OutDir, e.Output), ts, meta)
		if err == nil {
			err = f.Commit()
		}
		if err != nil {
			return err
		}
		res.Computed++
		done++
		if opts.Progress != nil {
			opts.Progress(done, res.Inputs)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	for _, e := range entries {
		b, err := json.Marshal(e)
		if err != nil {
			return nil, err
		}
		buf.Write(append(b, '\n'))
	}
	if err := atomicfile.WriteFile(ctx, res.Manifest, buf.Bytes(), atomicfile.Options{Replace: true}); err != nil {
		return nil, err
	}
	return res, nil
}

// keptEntry returns the manifest entry of an input whose output is
// complete and made by this configuration, or nil when it must be redone.
func keptEntry(path, sum, out, name string, opts DatasetOptions) *ManifestEntry {
	c, err := safetensors.Open(out)
	if err != nil {
		return nil
	}
	defer c.Close()
	if c.Metadata["glipctl.input_sha256"] != sum || c.Metadata["glipctl.input"] != path {
		return nil
	}
	for k, v := range opts.Fingerprint {
		if c.Metadata[k] != v {
			return nil
		}
	}
	e := &ManifestEntry{Input: path, InputSHA256: sum, Output: name}
	outs := opts.OutIndices
	if len(outs) == 0 {
		outs = swin.DefaultOutIndices
	}
	if len(c.Tensors) != len(outs) {
		return nil
	}
	for i, k := range outs {
		t := c.Tensors[i]
		if t.Name != fmt.Sprintf("stage%d", k) || t.DType != ckpt.F32 || len(t.Shape) != 4 {
			return nil
		}
		v, err := t.Float32()
		if err != nil {
			return nil
		}
		f := swin.Feature{Stage: k, N: int(t.Shape[0]), C: int(t.Shape[1]), H: int(t.Shape[2]), W: int(t.Shape[3]), Data: v}
		e.Stages = append(e.Stages, Summarize(t.Name, f))
	}
	return e
}

// fileSHA256 hashes an input file.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
