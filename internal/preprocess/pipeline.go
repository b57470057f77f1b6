package preprocess

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/glipctl/glipctl/internal/ckpt"
)

// Pipeline names the Python library whose decode and resize an image goes
// through, bit for bit.
type Pipeline int

const (
	// PIL is the reference pipeline of GLIP:
	// Image.open(p).convert("RGB") (EXIF orientation not applied), then
	// Image.resize((w, h), BILINEAR or BICUBIC), antialiased when shrinking.
	PIL Pipeline = iota
	// CV2 is mmpretrain's and mmcv's: cv2.imread(p, cv2.IMREAD_COLOR)
	// (EXIF orientation applied), then cv2.resize(img, (w, h),
	// interpolation=INTER_LINEAR or INTER_CUBIC), not antialiased.
	CV2
)

func (p Pipeline) String() string {
	switch p {
	case PIL:
		return "pil"
	case CV2:
		return "cv2"
	}
	return fmt.Sprintf("Pipeline(%d)", int(p))
}

// ParsePipeline reads "pil" or "cv2".
func ParsePipeline(s string) (Pipeline, error) {
	switch s {
	case "pil":
		return PIL, nil
	case "cv2":
		return CV2, nil
	}
	return 0, fmt.Errorf("unknown preprocessing pipeline %q (want pil or cv2)", s)
}

// Interp is the resampling filter of a resize.
type Interp int

const (
	// Bilinear is PIL's BILINEAR or OpenCV's INTER_LINEAR.
	Bilinear Interp = iota
	// Bicubic is PIL's BICUBIC (a = -0.5) or OpenCV's INTER_CUBIC
	// (A = -0.75).
	Bicubic
)

func (i Interp) String() string {
	switch i {
	case Bilinear:
		return "bilinear"
	case Bicubic:
		return "bicubic"
	}
	return fmt.Sprintf("Interp(%d)", int(i))
}

// ParseInterp reads "bilinear" or "bicubic".
func ParseInterp(s string) (Interp, error) {
	switch s {
	case "bilinear":
		return Bilinear, nil
	case "bicubic":
		return Bicubic, nil
	}
	return 0, fmt.Errorf("unknown interpolation %q (want bilinear or bicubic)", s)
}

// Size is the resize rule of --size, --short-edge and --no-resize.
type Size struct {
	Mode ResizeMode
	// W, H: ResizeSquare's output size (N×N for --size N, W×H for
	// --size HxW).
	W, H int
	// N: ResizeShortEdge's short side.
	N int
}

// ParseSize reads --size's value: "N" (N×N) or "HxW" (H rows, W columns),
// each side a positive number of pixels of at most maxSide.
func ParseSize(s string, maxSide int) (Size, error) {
	side := func(v string) (int, error) {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 || n > maxSide {
			return 0, fmt.Errorf("size %q: want N or HxW, each a number of pixels from 1 to %d", s, maxSide)
		}
		return n, nil
	}
	hs, ws, two := strings.Cut(s, "x")
	h, err := side(hs)
	if err != nil {
		return Size{}, err
	}
	w := h
	if two {
		if w, err = side(ws); err != nil {
			return Size{}, err
		}
	}
	return Size{Mode: ResizeSquare, W: w, H: h}, nil
}

// Target returns the size an image of w×h is resized to.
func (s Size) Target(w, h int) (int, int) {
	switch s.Mode {
	case ResizeSquare:
		return s.W, s.H
	case ResizeShortEdge:
		return Target(ResizeShortEdge, s.N, w, h)
	}
	return w, h
}

// Options is how an image file becomes a model input.
type Options struct {
	Pipeline Pipeline
	Interp   Interp
	Size     Size
}

// Prepared is an image decoded, oriented and resized by a pipeline.
type Prepared struct {
	// Image is the resized 8-bit BGR image (Normalize gives the tensor).
	Image *Image
	// SourceW, SourceH are the decoded image's size (after the EXIF
	// orientation of the CV2 pipeline), before resizing.
	SourceW, SourceH int
}

// Prepare reads the image file at path and prepares it as opts say.
// Errors name the file.
func Prepare(path string, opts Options) (*Prepared, error) {
	data, err := readImageFile(path)
	if err != nil {
		return nil, err
	}
	p, err := PrepareBytes(data, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

// PrepareBytes is Prepare on a file's contents.
func PrepareBytes(data []byte, opts Options) (*Prepared, error) {
	buf, _ := decoded.Get().(*[]byte)
	if buf == nil {
		buf = new([]byte)
	}
	img, err := decodeAs(data, opts.Pipeline, *buf)
	if err != nil {
		decoded.Put(buf)
		return nil, err
	}
	w, h := opts.Size.Target(img.W, img.H)
	out, err := img.ResizeAs(opts.Pipeline, opts.Interp, w, h)
	// The resize has copied what it keeps: img's pixels go back to the
	// pool (the decoder's buffer, or a larger one it made).
	*buf = img.Pix
	decoded.Put(buf)
	if err != nil {
		return nil, err
	}
	return &Prepared{Image: out, SourceW: img.W, SourceH: img.H}, nil
}

// decoded holds (*[]byte) the pixel buffers of images PrepareBytes has
// decoded and resized, for the next image: a dataset's images, often of
// one size, are then decoded without a new allocation.
var decoded sync.Pool

// Read decodes the image file at path as pipeline p does (see DecodeAs).
func Read(path string, p Pipeline) (*Image, error) {
	data, err := readImageFile(path)
	if err != nil {
		return nil, err
	}
	img, err := DecodeAs(data, p)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return img, nil
}

// readImageFile reads the file at path, which must be a regular file
// (ckpt.OpenRegular: never a FIFO or a device).
func readImageFile(path string) ([]byte, error) {
	f, size, err := ckpt.OpenRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// Sized as the file is now, up to 64 MiB, it is read in one go; a
	// larger file, or one that grows meanwhile, is still read whole.
	b := bytes.NewBuffer(make([]byte, 0, min(max(size, 0), 64<<20)+bytes.MinRead))
	if _, err := b.ReadFrom(f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return b.Bytes(), nil
}

// ResizeAs resizes m to w×h as pipeline p's library does with interp.
func (m *Image) ResizeAs(p Pipeline, interp Interp, w, h int) (*Image, error) {
	if interp != Bilinear && interp != Bicubic {
		return nil, fmt.Errorf("unknown interpolation %v", interp)
	}
	switch p {
	case PIL:
		return m.resizePIL(w, h, interp)
	case CV2:
		return m.resizeCV2(w, h, interp)
	}
	return nil, fmt.Errorf("unknown preprocessing pipeline %v", p)
}
