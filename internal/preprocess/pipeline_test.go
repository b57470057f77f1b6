package preprocess

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/glipctl/glipctl/internal/ckpt"
	"github.com/glipctl/glipctl/internal/oracle"
)

// refJob is one job of scripts/oracles/pipeline_ref.py.
type refJob struct {
	Name     string `json:"name"`
	Image    string `json:"image"`
	Pipeline string `json:"pipeline"`
	Interp   string `json:"interp"`
	Resize   []int  `json:"resize"`
	Norm     bool   `json:"norm"`
}

// refOut is what the library made of a job: its BGR pixels (nil and Err
// set when it refused the file) and, for Norm jobs, the tensor.
type refOut struct {
	W, H int
	BGR  []uint8
	Norm []float32
	Err  string
}

// runRef runs every job in one Python process and reads the results (the
// caller has checked oracle.Require(t, "PIL", "numpy", "cv2")).
func runRef(t *testing.T, jobs []refJob) map[string]refOut {
	t.Helper()
	dir := t.TempDir()
	seen := map[string]bool{}
	for _, j := range jobs {
		if seen[j.Name] {
			t.Fatalf("job name %s used twice", j.Name)
		}
		seen[j.Name] = true
	}
	jobsPath := filepath.Join(dir, "jobs.json")
	data, err := json.Marshal(jobs)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(jobsPath, data, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(oracle.Python, oracle.Script(t, "oracles/pipeline_ref.py"), jobsPath, dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pipeline_ref.py: %v\n%s", err, out)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var results map[string]json.RawMessage
	if err := json.Unmarshal(raw, &results); err != nil {
		t.Fatal(err)
	}
	outs := map[string]refOut{}
	for _, j := range jobs {
		r, ok := results[j.Name]
		if !ok {
			t.Fatalf("%s: no result", j.Name)
		}
		var shape []int
		if json.Unmarshal(r, &shape) != nil {
			var e struct{ Error string }
			if err := json.Unmarshal(r, &e); err != nil {
				t.Fatalf("%s: result %s", j.Name, r)
			}
			outs[j.Name] = refOut{Err: e.Error}
			continue
		}
		o := refOut{H: shape[0], W: shape[1]}
		if o.BGR, err = os.ReadFile(filepath.Join(dir, j.Name+".bgr")); err != nil {
			t.Fatal(err)
		}
		if len(o.BGR) != o.W*o.H*3 {
			t.Fatalf("%s: %d bytes for %dx%d", j.Name, len(o.BGR), o.H, o.W)
		}
		if j.Norm {
			f, err := os.ReadFile(filepath.Join(dir, j.Name+".f32"))
			if err != nil {
				t.Fatal(err)
			}
			o.Norm = make([]float32, len(f)/4)
			for i := range o.Norm {
				o.Norm[i] = math.Float32frombits(binary.LittleEndian.Uint32(f[4*i:]))
			}
		}
		outs[j.Name] = o
	}
	return outs
}

// diff compares our image with the library's: the largest difference in
// levels and how many values differ; -1 when the sizes differ.
func diff(m *Image, o refOut) (maxd, n int) {
	if m.W != o.W || m.H != o.H {
		return -1, 0
	}
	for i, v := range o.BGR {
		d := int(m.Pix[i]) - int(v)
		if d < 0 {
			d = -d
		}
		if d > 0 {
			n++
		}
		maxd = max(maxd, d)
	}
	return maxd, n
}

// noisePNG is an RGB PNG of w×h with gradients, edges and noise (the
// content that tells resampling kernels apart).
func noisePNG(t testing.TB, w, h int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 7))
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var c [3]uint8
			for k := range c {
				v := (x*5+y*3+k*70)%256 + rng.IntN(60) - 30
				if (x/11+y/7)%2 == 0 {
					v = 255 - v
				}
				if rng.IntN(50) == 0 {
					v = 255 * rng.IntN(2)
				}
				c[k] = uint8(max(0, min(255, v)))
			}
			img.SetNRGBA(x, y, color.NRGBA{c[0], c[1], c[2], 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

var pipelines = []Pipeline{PIL, CV2}
var interps = []Interp{Bilinear, Bicubic}

// resizeJobs: both pipelines, both interpolations, up and down, integer
// and non-integer ratios, down to 1 pixel: 0 levels off PIL and OpenCV.
func resizeJobs(t *testing.T) ([]refJob, func(*testing.T, map[string]refOut)) {
	dir := t.TempDir()
	sources := []struct{ w, h int }{{640, 480}, {97, 61}, {33, 17}, {5, 7}, {2, 3}, {1, 1}, {1, 9}, {300, 1}, {5, 80}, {1283, 967}}
	targets := [][2]int{{224, 224}, {1, 1}, {7, 5}, {300, 200}, {13, 200}, {298, 224}, {320, 240}, {1, 37}, {41, 1}, {96, 61}, {97, 30}, {8, 3}, {11, 11}}
	var jobs []refJob
	type input struct {
		name   string
		data   []byte
		target [2]int
	}
	var inputs []input
	for i, s := range sources {
		name := fmt.Sprintf("src%dx%d", s.w, s.h)
		data := noisePNG(t, s.w, s.h, uint64(i))
		path := filepath.Join(dir, name+".png")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		ts := targets
		if s.w == 640 {
			ts = append(ts, [2]int{160, 120}, [2]int{384, 384}, [2]int{1280, 960}, [2]int{640, 240})
		}
		if s.w == 5 && s.h == 80 {
			// Rows of 15 values, the width kept: the horizontal pass is
			// exact (x2048), so the vertical cubic sums often fall on a
			// tie, where OpenCV's float32 vector code (the first 8 values
			// of a row with 128-bit vectors) and its integer tail round
			// differently.
			ts = [][2]int{{5, 3000}}
		}
		if s.w == 97 {
			ts = append(ts, [2]int{194, 122}, [2]int{48, 30}, [2]int{500, 333})
		}
		if s.w == 1283 {
			// A camera-sized shrink: PIL's windows of 13 and 25 taps,
			// the passes split among the cores.
			ts = [][2]int{{224, 224}, {111, 53}}
		}
		for _, tg := range ts {
			for _, p := range pipelines {
				for _, in := range interps {
					jn := fmt.Sprintf("%s_%s_%s_%dx%d", name, p, in, tg[0], tg[1])
					jobs = append(jobs, refJob{Name: jn, Image: path, Pipeline: p.String(), Interp: in.String(), Resize: []int{tg[0], tg[1]}})
					inputs = append(inputs, input{jn, data, tg})
				}
			}
		}
	}
	return jobs, func(t *testing.T, refs map[string]refOut) {
		worst := 0
		decoded := map[string]*Image{}
		for i, j := range jobs {
			p, _ := ParsePipeline(j.Pipeline)
			in, _ := ParseInterp(j.Interp)
			src := decoded[j.Image+j.Pipeline]
			if src == nil {
				var err error
				if src, err = DecodeAs(inputs[i].data, p); err != nil {
					t.Fatal(err)
				}
				decoded[j.Image+j.Pipeline] = src
			}
			m, err := src.ResizeAs(p, in, inputs[i].target[0], inputs[i].target[1])
			if err != nil {
				t.Fatal(err)
			}
			maxd, n := diff(m, refs[j.Name])
			if maxd != 0 {
				t.Errorf("%s: %d values differ, by up to %d levels (-1: size)", j.Name, n, maxd)
			}
			worst = max(worst, maxd)
		}
		t.Logf("%d resizes, worst difference %d levels", len(jobs), worst)
	}
}

// TestPipelinesMatchLibraries: what each pipeline makes of images against
// what PIL and OpenCV make of them, all jobs in one Python process:
//   - resize: both pipelines, both interpolations, up and down, integer
//     and non-integer ratios, down to 1 pixel;
//   - corpus: every PNG colour type and bit depth and the eXIf
//     orientations, decoded and resized (and normalised);
//   - jpeg: the EXIF orientation of JPEG files.
func TestPipelinesMatchLibraries(t *testing.T) {
	oracle.Require(t, "PIL", "numpy", "cv2")
	parts := []struct {
		name  string
		build func(*testing.T) ([]refJob, func(*testing.T, map[string]refOut))
	}{{"resize", resizeJobs}, {"corpus", corpusJobs}, {"jpeg", jpegJobs}}
	var all []refJob
	checks := make([]func(*testing.T, map[string]refOut), len(parts))
	for i, p := range parts {
		var jobs []refJob
		jobs, checks[i] = p.build(t)
		all = append(all, jobs...)
	}
	refs := runRef(t, all)
	for i, p := range parts {
		t.Run(p.name, func(t *testing.T) { checks[i](t, refs) })
	}
}

// corpus returns the committed images of scripts/fixtures/make_image_corpus.py.
func corpus(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(oracle.RepoRoot(t), "testdata", "images", "*"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	if len(files) == 0 {
		t.Fatal("testdata/images is empty; run scripts/fixtures/make_image_corpus.py")
	}
	return files
}

// corpusJobs: every PNG colour type and bit depth, and the
// eXIf orientations, decoded (and resized) by each pipeline as its library
// does: 0 levels off.
func corpusJobs(t *testing.T) ([]refJob, func(*testing.T, map[string]refOut)) {
	var jobs []refJob
	type input struct {
		name string
		p    Pipeline
		in   Interp
		size Size
	}
	var inputs []input
	sizes := []Size{
		{Mode: ResizeNone},
		{Mode: ResizeSquare, W: 224, H: 224},
		{Mode: ResizeSquare, W: 7, H: 5},
		{Mode: ResizeShortEdge, N: 16},
	}
	for _, f := range corpus(t) {
		if !strings.HasSuffix(f, ".png") {
			continue
		}
		base := strings.TrimSuffix(filepath.Base(f), ".png")
		for _, p := range pipelines {
			img, err := Read(f, p)
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			for si, s := range sizes {
				for _, in := range interps {
					if s.Mode == ResizeNone && in == Bicubic {
						continue
					}
					name := fmt.Sprintf("%s_%s_%s_%d", base, p, in, si)
					w, h := s.Target(img.W, img.H)
					j := refJob{Name: name, Image: f, Pipeline: p.String(), Interp: in.String(), Norm: si == 0}
					if s.Mode != ResizeNone {
						j.Resize = []int{w, h}
					}
					jobs = append(jobs, j)
					inputs = append(inputs, input{f, p, in, s})
				}
			}
		}
	}
	return jobs, func(t *testing.T, refs map[string]refOut) {
		for i, j := range jobs {
			o := refs[j.Name]
			if o.Err != "" {
				t.Errorf("%s: the library refuses %s: %s", j.Name, inputs[i].name, o.Err)
				continue
			}
			pr, err := Prepare(inputs[i].name, Options{Pipeline: inputs[i].p, Interp: inputs[i].in, Size: inputs[i].size})
			if err != nil {
				t.Fatal(err)
			}
			if maxd, n := diff(pr.Image, o); maxd != 0 {
				t.Errorf("%s: %d values differ, by up to %d levels (-1: size %dx%d, want %dx%d)", j.Name, n, maxd, pr.Image.H, pr.Image.W, o.H, o.W)
				continue
			}
			if j.Norm {
				got := pr.Image.Normalize(MeanBGR, StdBGR)
				for k := range got {
					if math.Float32bits(got[k]) != math.Float32bits(o.Norm[k]) {
						t.Errorf("%s: normalised value %d is %v, numpy %v", j.Name, k, got[k], o.Norm[k])
						break
					}
				}
			}
		}
		t.Logf("%d jobs", len(jobs))
	}
}

// jpegJobs: JPEG files with EXIF orientation 1-8. The PIL pipeline keeps
// the stored orientation, the CV2 pipeline applies it, as the libraries
// do; with internal/jpeg (libjpeg-turbo's pixels) both are 0 levels off.
func jpegJobs(t *testing.T) ([]refJob, func(*testing.T, map[string]refOut)) {
	var jobs []refJob
	var files []string
	for _, f := range corpus(t) {
		if !strings.HasSuffix(f, ".jpg") {
			continue
		}
		for _, p := range pipelines {
			jobs = append(jobs, refJob{Name: fmt.Sprintf("%s_%s", filepath.Base(f), p), Image: f, Pipeline: p.String(), Interp: "bilinear"})
			files = append(files, f)
		}
	}
	if len(jobs) != 16 {
		t.Fatalf("%d JPEG jobs, want 8 orientations x 2 pipelines", len(jobs))
	}
	// Which APP1 cv2.imread reads the orientation from: jpeg_o6.jpg with
	// its segments rearranged (made here).
	for _, v := range app1Variants(t) {
		for _, p := range pipelines {
			jobs = append(jobs, refJob{Name: fmt.Sprintf("%s_%s", filepath.Base(v), p), Image: v, Pipeline: p.String(), Interp: "bilinear"})
			files = append(files, v)
		}
	}
	return jobs, func(t *testing.T, refs map[string]refOut) {
		for i, j := range jobs {
			p, _ := ParsePipeline(j.Pipeline)
			m, err := Read(files[i], p)
			if err != nil {
				t.Fatal(err)
			}
			o := refs[j.Name]
			if m.W != o.W || m.H != o.H {
				t.Errorf("%s: %dx%d, the library gives %dx%d", j.Name, m.H, m.W, o.H, o.W)
				continue
			}
			n, maxd := 0, 0
			for k, v := range o.BGR {
				if d := int(m.Pix[k]) - int(v); d != 0 {
					n++
					maxd = max(maxd, d, -d)
				}
			}
			if n > 0 {
				t.Errorf("%s: %d values differ from the library's, by up to %d levels", j.Name, n, maxd)
			}
		}
	}
}

func TestParseOptions(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Size
		err  bool
	}{
		{"224", Size{Mode: ResizeSquare, W: 224, H: 224}, false},
		{"480x640", Size{Mode: ResizeSquare, W: 640, H: 480}, false},
		{"1x1", Size{Mode: ResizeSquare, W: 1, H: 1}, false},
		{"0", Size{}, true},
		{"-3", Size{}, true},
		{"224x", Size{}, true},
		{"x224", Size{}, true},
		{"2x3x4", Size{}, true},
		{"40000", Size{}, true},
		{"abc", Size{}, true},
	} {
		got, err := ParseSize(c.in, 1<<15)
		if (err != nil) != c.err || (err == nil && got != c.want) {
			t.Errorf("ParseSize(%q) = %+v, %v; want %+v, error %v", c.in, got, err, c.want, c.err)
		}
		if err != nil && !strings.Contains(err.Error(), c.in) {
			t.Errorf("ParseSize(%q): error %q does not name the value", c.in, err)
		}
	}
	for _, s := range []string{"pil", "cv2"} {
		if p, err := ParsePipeline(s); err != nil || p.String() != s {
			t.Errorf("ParsePipeline(%q) = %v, %v", s, p, err)
		}
	}
	for _, s := range []string{"bilinear", "bicubic"} {
		if in, err := ParseInterp(s); err != nil || in.String() != s {
			t.Errorf("ParseInterp(%q) = %v, %v", s, in, err)
		}
	}
	if _, err := ParsePipeline("PIL"); err == nil {
		t.Error(`ParsePipeline("PIL") accepted`)
	}
	if _, err := ParseInterp("nearest"); err == nil {
		t.Error(`ParseInterp("nearest") accepted`)
	}
	if w, h := (Size{Mode: ResizeShortEdge, N: 224}).Target(640, 480); w != 298 || h != 224 {
		t.Errorf("short edge 224 of 640x480: %dx%d", w, h)
	}
	if w, h := (Size{Mode: ResizeNone}).Target(33, 17); w != 33 || h != 17 {
		t.Errorf("no resize of 33x17: %dx%d", w, h)
	}
}

// TestPrepareRejects: bad input gives one line naming the file, for both
// pipelines, and a header's size is refused before any pixel is allocated.
func TestPrepareRejects(t *testing.T) {
	dir := t.TempDir()
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, 1, 1))); err != nil {
		t.Fatal(err)
	}
	huge := append([]byte(nil), b.Bytes()...)
	binary.BigEndian.PutUint32(huge[16:], 1<<20)
	binary.BigEndian.PutUint32(huge[20:], 1<<20)
	truncated := b.Bytes()[:len(b.Bytes())-20]
	for name, data := range map[string][]byte{
		"gif.png":       []byte("GIF89a...."),
		"huge.png":      huge,
		"truncated.png": truncated,
		"empty.jpg":     {0xff, 0xd8, 0xff},
	} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, p := range pipelines {
			_, err := Prepare(path, Options{Pipeline: p, Size: Size{Mode: ResizeNone}})
			if err == nil {
				t.Errorf("%s, %s: accepted", name, p)
				continue
			}
			if msg := err.Error(); !strings.HasPrefix(msg, path+": ") || strings.Contains(msg, "\n") || len(msg) > 200+len(path) {
				t.Errorf("%s, %s: error %q: want one line starting with the path", name, p, msg)
			}
		}
	}
	if _, err := Prepare(filepath.Join(dir, "missing.png"), Options{}); err == nil || !strings.Contains(err.Error(), "missing.png") {
		t.Errorf("missing file: %v", err)
	}
	// Only regular files are read (a directory here; FIFOs and devices
	// alike, see ckpt.OpenRegular).
	if _, err := Read(dir, CV2); !errors.Is(err, ckpt.ErrNotRegular) || !strings.Contains(err.Error(), dir) {
		t.Errorf("directory: %v, want ckpt.ErrNotRegular naming it", err)
	}
	img := &Image{W: 2, H: 2, Pix: make([]uint8, 12)}
	for _, p := range pipelines {
		if _, err := img.ResizeAs(p, Bilinear, 1<<15, 1<<15); err == nil {
			t.Errorf("%s: resize to 32768x32768 accepted", p)
		}
		if _, err := img.ResizeAs(p, Interp(7), 3, 3); err == nil {
			t.Errorf("%s: interpolation 7 accepted", p)
		}
	}
}

// app1Variants writes jpeg_o6.jpg of the corpus (an Exif APP1 with
// orientation 6) with its APP1 segments arranged the ways a file can
// have them, and returns the paths: an XMP APP1 before the Exif one
// (cv2.imread then rotates nothing), after it, an APP1 too short to hold
// anything before it, and the Exif APP1 moved after the frame header.
func app1Variants(t *testing.T) []string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(oracle.RepoRoot(t), "testdata", "images", "jpeg_o6.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	// The segments between SOI and SOS, then the rest.
	var segs [][]byte
	i := 2
	for src[i+1] != 0xda {
		n := int(binary.BigEndian.Uint16(src[i+2:]))
		segs = append(segs, src[i:i+2+n])
		i += 2 + n
	}
	rest := src[i:]
	exif := -1
	for k, sg := range segs {
		if sg[1] == 0xe1 && bytes.HasPrefix(sg[4:], []byte("Exif\x00\x00")) {
			exif = k
		}
	}
	if exif < 0 {
		t.Fatal("jpeg_o6.jpg has no Exif APP1")
	}
	app1 := func(payload string) []byte {
		return append([]byte{0xff, 0xe1, byte((len(payload) + 2) >> 8), byte(len(payload) + 2)}, payload...)
	}
	xmp := app1("http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta xmlns:x='adobe:ns:meta/'/>")
	build := func(order func(others [][]byte, exif []byte) [][]byte) []byte {
		var others [][]byte
		for k, sg := range segs {
			if k != exif {
				others = append(others, sg)
			}
		}
		out := []byte{0xff, 0xd8}
		for _, sg := range order(others, segs[exif]) {
			out = append(out, sg...)
		}
		return append(out, rest...)
	}
	variants := map[string][]byte{
		"app1_xmp_first.jpg": build(func(o [][]byte, e []byte) [][]byte { return append([][]byte{xmp, e}, o...) }),
		"app1_xmp_after.jpg": build(func(o [][]byte, e []byte) [][]byte { return append([][]byte{e, xmp}, o...) }),
		"app1_short_first.jpg": build(func(o [][]byte, e []byte) [][]byte {
			return append([][]byte{app1("Exif"), e}, o...)
		}),
		"app1_after_sof.jpg": build(func(o [][]byte, e []byte) [][]byte {
			var out [][]byte
			for _, sg := range o {
				out = append(out, sg)
				if sg[1] == 0xc0 || sg[1] == 0xc2 {
					out = append(out, e)
				}
			}
			return out
		}),
	}
	dir := t.TempDir()
	var paths []string
	for _, name := range []string{"app1_xmp_first.jpg", "app1_xmp_after.jpg", "app1_short_first.jpg", "app1_after_sof.jpg"} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, variants[name], 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}
