// Package zoo is the registry of the GLIP Swin backbones published in the
// mmpretrain model zoo (configs/glip), the cache their files are downloaded
// to, and the downloader.
//
// The registry is the embedded file zoo.json. Resolve turns a path or a zoo
// name into a file, downloading it into the cache on first use:
//
//	path, err := zoo.Resolve(ctx, arg, zoo.ResolveOptions{CacheDir: dir, Log: w})
//
// The package takes plain options and reports progress through a
// callback: it registers no flag, reads no environment variable and draws
// nothing (internal/cli does, for the commands).
package zoo

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"strings"
	"sync"

	"github.com/glipctl/glipctl/internal/swin"
)

//go:embed zoo.json
var zooJSON []byte

// Entry is one model of the zoo.
type Entry struct {
	// Name is the mmpretrain model name, e.g. "swin-t_glip-pre_3rdparty".
	Name string `json:"name"`
	// Display is a short name for people: "Swin-T", "Swin-L".
	Display string `json:"display"`
	// Arch is the backbone's architecture.
	Arch swin.Arch `json:"arch"`
	// ImgSize is the input side the model is configured for.
	ImgSize int `json:"img_size"`
	// OutIndices are the stages whose outputs the backbone returns
	// (and which have a norm{i} LayerNorm).
	OutIndices []int `json:"out_indices"`
	// Preprocess is the input normalisation.
	Preprocess Preprocess `json:"preprocess"`
	// Weights is the mmpretrain checkpoint (keys "backbone.*").
	Weights File `json:"weights"`
	// Official is the checkpoint published by the GLIP authors (whole
	// detector, keys "module.backbone.body.*"); it has no published hash.
	Official File `json:"official"`
}

// Preprocess is the input normalisation: (pixel - Mean) / Std per channel.
type Preprocess struct {
	// Mean and Std are per channel, in the model's channel order.
	Mean []float64 `json:"mean"`
	Std  []float64 `json:"std"`
	// BGR is true when the model expects BGR pixels in 0..255 (channel 0 is
	// blue) and Mean and Std are given in that order.
	BGR bool `json:"bgr"`
}

// File is one downloadable file.
type File struct {
	// Name is the file's name in the cache (a base name).
	Name string `json:"file"`
	// URLs are tried in order: the first is the primary source, the
	// others are mirrors.
	URLs []string `json:"urls"`
	// SHA256 is the expected SHA-256 of the file, in lower-case hex: all of
	// it, or a prefix (OpenMMLab publishes the first 8 digits in the file
	// name). Empty when none is published.
	SHA256 string `json:"sha256,omitempty"`
	// MaxSize is an upper bound of the file's size in bytes (not its
	// size: a bound well above it), so that an endless or oversized body
	// is stopped; 0 means DefaultMaxSize.
	MaxSize int64 `json:"max_size,omitempty"`
}

// Registry is a set of zoo entries. Default returns the one embedded in
// the binary; tests build their own with NewRegistry.
type Registry struct {
	entries []Entry
}

var (
	defaultOnce sync.Once
	defaultReg  *Registry
	defaultErr  error
)

// Default returns the registry embedded in the binary (zoo.json). It panics
// if the embedded file is invalid, which its tests rule out.
func Default() *Registry {
	defaultOnce.Do(func() {
		defaultReg, defaultErr = ParseRegistry(zooJSON)
	})
	if defaultErr != nil {
		panic("zoo: embedded zoo.json: " + defaultErr.Error())
	}
	return defaultReg
}

// ParseRegistry reads a registry in the format of zoo.json:
// {"models": [Entry, ...]}.
func ParseRegistry(data []byte) (*Registry, error) {
	var doc struct {
		Models []Entry `json:"models"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	return NewRegistry(doc.Models)
}

var hexRE = regexp.MustCompile(`^[0-9a-f]{1,64}$`)

// NewRegistry checks the entries and returns a registry of them. Names must
// be unique and not contain ':'; file names must be plain base names; every
// URL must be http(s); a hash must be lower-case hex.
func NewRegistry(entries []Entry) (*Registry, error) {
	seen := map[string]bool{}
	r := &Registry{}
	for _, e := range entries {
		if e.Name == "" || strings.ContainsAny(e.Name, ":/\\ ") {
			return nil, fmt.Errorf("registry: bad model name %q", e.Name)
		}
		if seen[e.Name] {
			return nil, fmt.Errorf("registry: model %q listed twice", e.Name)
		}
		seen[e.Name] = true
		if len(e.Arch.Depths) == 0 || len(e.Arch.Depths) != len(e.Arch.Heads) {
			return nil, fmt.Errorf("registry: %s: arch has %d depths and %d heads", e.Name, len(e.Arch.Depths), len(e.Arch.Heads))
		}
		if err := checkFile(e.Weights); err != nil {
			return nil, fmt.Errorf("registry: %s weights: %w", e.Name, err)
		}
		if len(e.Official.URLs) > 0 || e.Official.Name != "" {
			if err := checkFile(e.Official); err != nil {
				return nil, fmt.Errorf("registry: %s official: %w", e.Name, err)
			}
		}
		r.entries = append(r.entries, cloneEntry(e))
	}
	return r, nil
}

func checkFile(f File) error {
	if f.Name == "" || f.Name != path.Base(f.Name) || f.Name == "." || f.Name == ".." || strings.ContainsAny(f.Name, "/\\") {
		return fmt.Errorf("bad file name %q", f.Name)
	}
	if strings.HasSuffix(f.Name, ".part") || strings.HasSuffix(f.Name, ".part.meta") || strings.HasSuffix(f.Name, ".lock") || f.Name == manifestName {
		return fmt.Errorf("reserved file name %q", f.Name)
	}
	if len(f.URLs) == 0 {
		return fmt.Errorf("%s: no URL", f.Name)
	}
	for _, u := range f.URLs {
		if !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
			return fmt.Errorf("%s: URL %q is not http(s)", f.Name, u)
		}
	}
	if f.MaxSize < 0 {
		return fmt.Errorf("%s: negative max_size", f.Name)
	}
	if f.SHA256 != "" && !hexRE.MatchString(f.SHA256) {
		return fmt.Errorf("%s: sha256 %q is not lower-case hex", f.Name, f.SHA256)
	}
	return nil
}

func cloneEntry(e Entry) Entry {
	e.Arch.Depths = append([]int(nil), e.Arch.Depths...)
	e.Arch.Heads = append([]int(nil), e.Arch.Heads...)
	e.OutIndices = append([]int(nil), e.OutIndices...)
	e.Preprocess.Mean = append([]float64(nil), e.Preprocess.Mean...)
	e.Preprocess.Std = append([]float64(nil), e.Preprocess.Std...)
	e.Weights.URLs = append([]string(nil), e.Weights.URLs...)
	e.Official.URLs = append([]string(nil), e.Official.URLs...)
	return e
}

// Entries returns the registry's entries in registry order (copies: callers
// may modify them).
func (r *Registry) Entries() []Entry {
	out := make([]Entry, len(r.entries))
	for i, e := range r.entries {
		out[i] = cloneEntry(e)
	}
	return out
}

// Names returns the model names in registry order.
func (r *Registry) Names() []string {
	out := make([]string, len(r.entries))
	for i, e := range r.entries {
		out[i] = e.Name
	}
	return out
}

// Lookup returns the entry with this exact name.
func (r *Registry) Lookup(name string) (Entry, bool) {
	for _, e := range r.entries {
		if e.Name == name {
			return cloneEntry(e), true
		}
	}
	return Entry{}, false
}

// Match returns the first entry whose architecture equals a: same embed
// width, depths, heads and window (swin.Arch.Equal) and also the same patch
// size, input channels and MLP ratio.
func (r *Registry) Match(a swin.Arch) (Entry, bool) {
	for _, e := range r.entries {
		b := e.Arch
		if a.Equal(b) && a.PatchSize == b.PatchSize && a.InChans == b.InChans && a.MLPRatio == b.MLPRatio {
			return cloneEntry(e), true
		}
	}
	return Entry{}, false
}

// Lookup returns the entry of the default registry with this exact name.
func Lookup(name string) (Entry, bool) { return Default().Lookup(name) }

// Entries returns the entries of the default registry.
func Entries() []Entry { return Default().Entries() }

// Match returns the entry of the default registry whose architecture
// equals a (see Registry.Match), e.g. to name a checkpoint "Swin-T".
func Match(a swin.Arch) (Entry, bool) { return Default().Match(a) }
