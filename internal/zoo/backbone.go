package zoo

import (
	"errors"
	"fmt"
	"slices"

	"github.com/glipctl/glipctl/internal/ckpt"
	"github.com/glipctl/glipctl/internal/ckpt/formats"
	"github.com/glipctl/glipctl/internal/ckpt/pth"
	"github.com/glipctl/glipctl/internal/glip"
	"github.com/glipctl/glipctl/internal/swin"
)

// NotBackboneError is a file that is not the checkpoint a zoo entry
// describes: not a PyTorch checkpoint, or one whose backbone does not have
// the entry's shapes.
type NotBackboneError struct {
	Path  string
	Model string // the entry's display name ("Swin-T")
	Err   error
}

func (e *NotBackboneError) Error() string {
	return fmt.Sprintf("%s: not the %s checkpoint: %v", e.Path, e.Model, e.Err)
}
func (e *NotBackboneError) Unwrap() error { return e.Err }

// checkTorchHead accepts the first bytes of a PyTorch checkpoint: a zip
// archive (torch >= 1.6) or a pickle (the legacy format).
func checkTorchHead(head []byte) error {
	switch formats.Detect(head) {
	case ckpt.FormatTorchZip, ckpt.FormatTorchLegacy:
		return nil
	}
	return errors.New("not a PyTorch checkpoint (starts as neither a zip nor a pickle)")
}

// CheckBackbone proves that path holds the checkpoint e describes: it
// opens as a PyTorch checkpoint (zip or legacy; tensors are described, not
// read), glip.NewBackbone finds an official GLIP or mmpretrain backbone,
// the architecture its backbone's shapes give (swin.ArchFromShapes) is
// e.Arch, and every tensor of that backbone with e.OutIndices has its
// expected shape. It is the proof a file with no published hash must pass
// before it is recorded or used.
func CheckBackbone(path string, e Entry) error {
	fail := func(err error) error { return &NotBackboneError{Path: path, Model: e.Display, Err: err} }
	c, err := pth.Open(path, ckpt.OpenOptions{})
	if err != nil {
		var pe interface{ Unwrap() error }
		if errors.As(err, &pe) && pe.Unwrap() != nil {
			return fail(pe.Unwrap())
		}
		return fail(err)
	}
	defer c.Close()
	bb, err := glip.NewBackbone(c)
	if err == nil {
		bb, err = bb.Require()
	}
	if err != nil {
		return fail(err)
	}
	shapes := bb.Shapes()
	a, err := swin.ArchFromShapes(shapes)
	if err != nil {
		return fail(err)
	}
	w := e.Arch
	if !a.Equal(w) || a.PatchSize != w.PatchSize || a.InChans != w.InChans || a.MLPRatio != w.MLPRatio {
		return fail(fmt.Errorf("its backbone is %s, want %s", a, w))
	}
	for _, k := range a.ExpectedKeys(e.OutIndices) {
		got, ok := shapes[k.Name]
		if !ok {
			return fail(fmt.Errorf("%s is missing", k.Name))
		}
		if !slices.Equal(got, k.Shape) {
			return fail(fmt.Errorf("%s has shape %s, want %s", k.Name, ckpt.ShapeString(got), ckpt.ShapeString(k.Shape)))
		}
	}
	return nil
}
