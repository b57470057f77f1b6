package ckpt

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// Format names a checkpoint file format.
type Format string

// The file formats glipctl reads.
const (
	FormatTorchZip    Format = "pytorch-zip"
	FormatTorchLegacy Format = "pytorch-legacy"
	FormatSafetensors Format = "safetensors"
	FormatGGUF        Format = "gguf"
	FormatONNX        Format = "onnx"
)

// Leaf is a non-tensor value of a checkpoint (an iteration count, a
// learning rate, a refused object), shown briefly.
type Leaf struct {
	Name  string `json:"name"`  // key path, container levels joined by "/"
	Kind  string `json:"kind"`  // "int", "float", "str", "bool", "None", "list", "refused", ...
	Value string `json:"value"` // a short rendering of the value
}

// Unsupported is a tensor of a checkpoint that glipctl cannot represent (a
// complex, quantized or sparse tensor): listed by name with the reason, and
// left out of Tensors so that the rest of the checkpoint can be used.
type Unsupported struct {
	Name   string `json:"name"`   // key path, as Tensor.Name
	Reason string `json:"reason"` // "complex tensor (torch.ComplexFloatStorage)", ...
}

// Checkpoint is an open checkpoint file: its tensors in file order, its
// other values, and its metadata. Tensors read from the file until Close.
type Checkpoint struct {
	Path    string
	Format  Format
	Tensors []*Tensor
	Leaves  []Leaf
	// Unsupported are the tensors left out of Tensors, in file order.
	Unsupported []Unsupported
	Metadata    map[string]string
	// Warnings are things a user should know that did not stop the read
	// ("refused global posix.system").
	Warnings []string
	// Closer releases the file; nil for in-memory checkpoints.
	Closer io.Closer
}

// Close releases the checkpoint's file.
func (c *Checkpoint) Close() error {
	if c == nil || c.Closer == nil {
		return nil
	}
	err := c.Closer.Close()
	c.Closer = nil
	return err
}

// UnsupportedWarnings returns one warning per unsupported tensor, for the
// commands that use the other tensors and ignore these.
func (c *Checkpoint) UnsupportedWarnings() []string {
	out := make([]string, 0, len(c.Unsupported))
	for _, u := range c.Unsupported {
		out = append(out, fmt.Sprintf("tensor %q ignored: %s", u.Name, u.Reason))
	}
	return out
}

// Tensor returns the tensor with the given name, or nil.
func (c *Checkpoint) Tensor(name string) *Tensor {
	for _, t := range c.Tensors {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// MetadataKeys returns the metadata keys in sorted order.
func (c *Checkpoint) MetadataKeys() []string {
	keys := make([]string, 0, len(c.Metadata))
	for k := range c.Metadata {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// stateDictContainers are the container keys under which checkpoints keep
// their state dict, tried in this order (as mmpretrain's converter and
// torch users do).
var stateDictContainers = []string{"state_dict", "model", "module"}

// StateDict returns the tensors of the checkpoint's state dict with the
// container prefix removed, and that prefix ("model/", "state_dict/" or ""
// for a top-level state dict). The returned tensors are copies of the
// descriptions (sharing Data); the checkpoint is not modified.
func (c *Checkpoint) StateDict() (prefix string, tensors []*Tensor) {
	for _, k := range stateDictContainers {
		p := k + "/"
		var out []*Tensor
		for _, t := range c.Tensors {
			if strings.HasPrefix(t.Name, p) {
				cp := *t
				cp.Name = strings.TrimPrefix(t.Name, p)
				out = append(out, &cp)
			}
		}
		if len(out) > 0 {
			return p, out
		}
	}
	out := make([]*Tensor, 0, len(c.Tensors))
	for _, t := range c.Tensors {
		cp := *t
		out = append(out, &cp)
	}
	return "", out
}

// OpenOptions controls how a checkpoint is read.
type OpenOptions struct {
	// Strict turns a refused pickle global into an error instead of a
	// warning and an inert placeholder.
	Strict bool
}
