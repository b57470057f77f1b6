package formats

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/glipctl/glipctl/internal/ckpt"
)

// A model directory is what transformers' save_pretrained and timm's hub
// export write: a config.json beside the weights. OpenDir reads the
// weights (WeightFiles, the first present) and adds the config to the
// checkpoint's metadata: its top-level string values and string lists as
// "config.KEY" (config.model_type, config.architectures as a JSON list,
// config.architecture), and the members of a "glipctl" object as they are
// (input_order, window_rule) where the weights' own metadata lacks them.

// WeightFiles are the weights files a model directory may hold, in the
// order looked for.
var WeightFiles = []string{"model.safetensors", "pytorch_model.bin", "model.pth"}

// ConfigFile is the name of a model directory's configuration.
const ConfigFile = "config.json"

// maxConfigBytes bounds the config.json read (transformers' are a few KB).
const maxConfigBytes = 1 << 20

// HashPath is the file whose digest stands for path: path itself, or
// for a model directory its weights file (the first of WeightFiles
// present).
func HashPath(path string) string {
	fi, err := os.Stat(path)
	if err != nil || !fi.IsDir() {
		return path
	}
	for _, w := range WeightFiles {
		p := filepath.Join(path, w)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p
		}
	}
	return path
}

// OpenDir opens the model directory dir (see above). The checkpoint's Path
// is dir.
func OpenDir(dir string, opts ckpt.OpenOptions) (*ckpt.Checkpoint, error) {
	cfgPath := filepath.Join(dir, ConfigFile)
	f, err := os.Open(cfgPath)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: is a directory, not a model directory (no %s)", dir, ConfigFile)
		}
		return nil, err
	}
	raw, err := io.ReadAll(io.LimitReader(f, maxConfigBytes+1))
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfgPath, err)
	}
	if len(raw) > maxConfigBytes {
		return nil, fmt.Errorf("%s: larger than %d bytes", cfgPath, maxConfigBytes)
	}
	var cfg map[string]json.RawMessage
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("%s: not a JSON object: %v", cfgPath, err)
	}
	weights := ""
	for _, w := range WeightFiles {
		if fi, err := os.Stat(filepath.Join(dir, w)); err == nil && fi.Mode().IsRegular() {
			weights = filepath.Join(dir, w)
			break
		}
	}
	if weights == "" {
		return nil, fmt.Errorf("%s: no weights (%s)", dir, strings.Join(WeightFiles, ", "))
	}
	c, err := Open(weights, opts)
	if err != nil {
		return nil, err
	}
	c.Path = dir
	if c.Metadata == nil {
		c.Metadata = map[string]string{}
	}
	keys := make([]string, 0, len(cfg))
	for k := range cfg {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := cfg[k]
		var s string
		var list []string
		var obj map[string]json.RawMessage
		switch {
		case json.Unmarshal(v, &s) == nil:
			c.Metadata["config."+k] = s
		case json.Unmarshal(v, &list) == nil:
			c.Metadata["config."+k] = string(v)
		case k == "glipctl" && json.Unmarshal(v, &obj) == nil:
			for mk, mv := range obj {
				var ms string
				if json.Unmarshal(mv, &ms) != nil {
					continue
				}
				if _, ok := c.Metadata[mk]; !ok {
					c.Metadata[mk] = ms
				}
			}
		}
	}
	return c, nil
}
