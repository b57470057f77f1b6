package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/glipctl/glipctl/internal/ckpt"
	"github.com/glipctl/glipctl/internal/ckpt/formats"
	"github.com/glipctl/glipctl/internal/compare"
	"github.com/glipctl/glipctl/internal/oracle"
	"github.com/glipctl/glipctl/internal/preprocess"
)

// The fixtures of testdata/forward are made by
// scripts/fixtures/forward_make_testdata.py with the PyTorch reference
// scripts/oracles/swin_ref.py (PIL preprocessing for the PNG).
const fwd = td + "forward/"

// maxRelDiff returns, over the tensors of want, the worst
// max|got-want|/max|want|, failing when a tensor is missing.
func maxRelDiff(t *testing.T, gotPath, wantPath string, names map[string]string) float64 {
	t.Helper()
	g, err := formats.Open(gotPath, ckpt.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	w, err := formats.Open(wantPath, ckpt.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	worst := 0.0
	for _, wt := range w.Tensors {
		name := wt.Name
		if n, ok := names[name]; ok {
			name = n
		}
		gt := g.Tensor(name)
		if gt == nil {
			t.Fatalf("%s: no tensor %s", gotPath, name)
		}
		if !slices.Equal(gt.Shape, wt.Shape) {
			t.Fatalf("%s: shape %v, reference %v", name, gt.Shape, wt.Shape)
		}
		a, _ := gt.Float64()
		b, _ := wt.Float64()
		var md, mr float64
		for i := range a {
			md = math.Max(md, math.Abs(a[i]-b[i]))
			mr = math.Max(mr, math.Abs(b[i]))
		}
		worst = math.Max(worst, md/mr)
	}
	return worst
}

func TestForwardMatchesReference(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		args []string
		ref  string
	}{
		{"png glip no resize", []string{"--model", fwd + "tiny_mm.safetensors", "--semantics", "glip", "--no-resize", fwd + "scene.png"}, "ref_png_glip_noresize.safetensors"},
		// Official layout (remapped in memory), default resize (224 for
		// window 7, PIL bilinear), mmpretrain semantics.
		{"png official default resize", []string{"--model", fwd + "tiny_official.pth", fwd + "scene.png"}, "ref_png_mmpretrain_224.safetensors"},
		{"npy glip", []string{"--model", fwd + "tiny_mm.safetensors", "--semantics", "glip", "--input", fwd + "x_37x53.npy"}, "ref_x_glip.safetensors"},
		{"npy glip out indices", []string{"--model", fwd + "tiny_official.pth", "--semantics", "glip", "--out-indices", "0,1,3", "--input", fwd + "x_37x53.npy"}, "ref_x_glip_out013.safetensors"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".safetensors")
			args := append([]string{"forward"}, c.args...)
			args = append(args, "-o", out, "--compare", fwd+c.ref)
			code, stdout, stderr := runCmd(t, args...)
			if code != 0 {
				t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
			}
			if !strings.Contains(stdout, ": ok") || strings.Contains(stdout, "FAIL") {
				t.Errorf("compare summary:\n%s", stdout)
			}
			rel := maxRelDiff(t, out, fwd+c.ref, nil)
			t.Logf("worst max|diff|/max|ref| %.3g", rel)
			if rel > 1e-4 {
				t.Errorf("features differ from the reference by %.3g of max|ref|", rel)
			}
		})
	}
}

func TestForwardSeveralInputsAndDeterminism(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.safetensors"), filepath.Join(dir, "b.safetensors")
	args := []string{"forward", "--model", fwd + "tiny_mm.safetensors", "--semantics", "glip", "--size", "64", fwd + "scene.png", "--input", fwd + "x_37x53.npy", "--input", fwd + "x_37x53.npy"}
	for _, out := range []string{a, b} {
		code, stdout, stderr := runCmd(t, append(args, "-o", out)...)
		if code != 0 {
			t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
		}
	}
	ba, _ := os.ReadFile(a)
	bb, _ := os.ReadFile(b)
	if !bytes.Equal(ba, bb) {
		t.Error("two runs with the same inputs wrote different files")
	}
	c, err := formats.Open(a, ckpt.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var names []string
	for _, tn := range c.Tensors {
		names = append(names, tn.Name)
		if tn.DType != ckpt.F32 || len(tn.Shape) != 4 {
			t.Errorf("%s: %s %v", tn.Name, tn.DType, tn.Shape)
		}
	}
	sort.Strings(names)
	want := []string{"scene.png/stage1", "scene.png/stage2", "scene.png/stage3",
		"x_37x53.npy#2/stage1", "x_37x53.npy#2/stage2", "x_37x53.npy#2/stage3",
		"x_37x53.npy#3/stage1", "x_37x53.npy#3/stage2", "x_37x53.npy#3/stage3"}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("tensor names %v, want %v", names, want)
	}
	// The per-input entries are the single-input features.
	rel := maxRelDiff(t, a, fwd+"ref_x_glip.safetensors", map[string]string{
		"stage1": "x_37x53.npy#3/stage1", "stage2": "x_37x53.npy#3/stage2", "stage3": "x_37x53.npy#3/stage3"})
	if rel > 1e-4 {
		t.Errorf("x_37x53.npy#3 differs from the reference by %.3g", rel)
	}
	// Nothing but the outputs in the directory.
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("directory holds %d entries", len(entries))
	}
}

func TestForwardCompareFails(t *testing.T) {
	// mmpretrain features against the glip reference: stage 3 differs.
	code, stdout, stderr := runCmd(t, "forward", "--model", fwd+"tiny_mm.safetensors", "--size", "224", fwd+"scene.png", "--compare", fwd+"ref_png_glip_noresize.safetensors")
	if code != exitCheckFailed {
		t.Fatalf("exit %d, want 3\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "FAIL") || !strings.Contains(stderr, "beyond tolerance") {
		t.Errorf("stdout:\n%s\nstderr:\n%s", stdout, stderr)
	}
	// A stage the reference lacks fails too.
	code, stdout, _ = runCmd(t, "forward", "--model", fwd+"tiny_mm.safetensors", "--semantics", "glip", "--out-indices", "0,1,2,3", "--input", fwd+"x_37x53.npy", "--compare", fwd+"ref_x_glip.safetensors")
	if code != exitCheckFailed || !strings.Contains(stdout, "missing from the reference") {
		t.Errorf("exit %d\n%s", code, stdout)
	}
	// Within tolerance with a generous atol.
	code, _, stderr = runCmd(t, "forward", "--model", fwd+"tiny_mm.safetensors", "--semantics", "glip", "--input", fwd+"x_37x53.npy", "--compare", fwd+"ref_x_glip.safetensors", "--atol", "0", "--rtol", "0")
	if code != exitCheckFailed {
		t.Errorf("exact comparison of float32 features passed: exit %d %s", code, stderr)
	}
}

func TestForwardJSON(t *testing.T) {
	code, stdout, stderr := runCmd(t, "forward", "--format", "json", "--model", fwd+"tiny_mm.safetensors", "--semantics", "glip", "--input", fwd+"x_37x53.npy", "--compare", fwd+"ref_x_glip.safetensors")
	if code != 0 {
		t.Fatalf("exit %d %s", code, stderr)
	}
	var rep forwardReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	if rep.Semantics != "glip" || len(rep.Inputs) != 1 || len(rep.Inputs[0].Stages) != 3 || rep.Compare == nil || !rep.Compare.OK {
		t.Fatalf("%+v", rep)
	}
	s := rep.Inputs[0].Stages[2]
	if s.Name != "stage3" || len(s.Shape) != 4 || s.Shape[1] != 64 || !(s.Min <= s.Mean && s.Mean <= s.Max) || s.Std <= 0 {
		t.Errorf("stage summary %+v", s)
	}
	if c := rep.Inputs[0].Compare[0]; !c.Cosine.Finite() || c.Cosine < 0.999999 || !c.OK {
		t.Errorf("compare %+v", c)
	}
}

// TestForwardNaNInput: an input holding a NaN gives summaries with NaN
// counts (statistics over the finite values, null in JSON where none is
// finite) and exit 0, in JSON and in text.
func TestForwardNaNInput(t *testing.T) {
	raw, err := os.ReadFile(fwd + "x_37x53.npy")
	if err != nil {
		t.Fatal(err)
	}
	// .npy v1: 10-byte preamble, little-endian uint16 header length, data.
	data := 10 + int(raw[8]) | int(raw[9])<<8
	binary.LittleEndian.PutUint32(raw[data:], math.Float32bits(float32(math.NaN())))
	x := filepath.Join(t.TempDir(), "nan.npy")
	if err := os.WriteFile(x, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"forward", "--model", fwd + "tiny_mm.safetensors", "--semantics", "glip", "--input", x}
	code, stdout, stderr := runCmd(t, append(args, "--format", "json")...)
	if code != 0 {
		t.Fatalf("exit %d %s", code, stderr)
	}
	var rep struct {
		Inputs []struct {
			Stages []struct {
				Name string   `json:"name"`
				Mean *float64 `json:"mean"`
				Min  *float64 `json:"min"`
				NaN  int64    `json:"nan"`
				Inf  int64    `json:"inf"`
			} `json:"stages"`
		} `json:"inputs"`
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	if len(rep.Inputs) != 1 || len(rep.Inputs[0].Stages) != 3 {
		t.Fatalf("%s", stdout)
	}
	for _, s := range rep.Inputs[0].Stages {
		if s.NaN == 0 {
			t.Errorf("%s: no NaN counted: %s", s.Name, stdout)
		}
	}
	code, stdout, stderr = runCmd(t, args...)
	if code != 0 || !strings.Contains(stdout, "nan ") {
		t.Errorf("text: exit %d, %q %q", code, stdout, stderr)
	}
}

func TestForwardErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.npy")
	os.WriteFile(bad, []byte("\x93NUMPY\x01\x00\x10\x00{'descr': '>f4'}\n"), 0o644)
	out := filepath.Join(dir, "out.safetensors")
	m := fwd + "tiny_mm.safetensors"
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"forward", "--model", m}, exitUsage, "IMAGE"},
		{[]string{"forward", "--model", m, "--size", "64", "--no-resize", fwd + "scene.png"}, exitUsage, "exclude"},
		{[]string{"forward", "--model", m, "--size", "64", "--input", fwd + "x_37x53.npy"}, exitUsage, "image inputs"},
		{[]string{"forward", "--model", m, "--atol", "1", "--input", fwd + "x_37x53.npy"}, exitUsage, "--compare"},
		{[]string{"forward", "--model", m, "--semantics", "timm", "--input", fwd + "x_37x53.npy"}, exitUsage, "semantics"},
		{[]string{"forward", "--model", m, "--out-indices", "1,x", "--input", fwd + "x_37x53.npy"}, exitUsage, "out-indices"},
		{[]string{"forward", "--model", m, "--format", "xml", "--input", fwd + "x_37x53.npy"}, exitUsage, "format"},
		// Without --model, the zoo's Swin-T, which --offline forbids fetching.
		{[]string{"forward", "--offline", "--cache-dir", dir, fwd + "scene.png"}, exitError, "swin-t_glip-pre_3rdparty"},
		// mmpretrain refuses a 37x53 input: the error names the stage and suggests glip.
		{[]string{"forward", "--model", m, "--input", fwd + "x_37x53.npy", "-o", out}, exitError, "stage 1: its 5x7 feature map"},
		{[]string{"forward", "--model", m, "--semantics", "glip", "--out-indices", "4", "--input", fwd + "x_37x53.npy"}, exitError, "out of range"},
		// A bad second input: nothing written.
		{[]string{"forward", "--model", m, "--semantics", "glip", "--input", fwd + "x_37x53.npy", "--input", bad, "-o", out}, exitError, "bad.npy"},
		{[]string{"forward", "--model", fwd + "scene.png", "--input", fwd + "x_37x53.npy"}, exitError, "scene.png"},
		{[]string{"forward", "--model", m, fwd + "x_37x53.npy"}, exitError, "not a JPEG or PNG"},
		{[]string{"forward", "--model", m, "--semantics", "glip", "--input", fwd + "x_37x53.npy", "-o", filepath.Join(dir, "no", "such", "dir", "o.safetensors")}, exitError, "no such"},
	} {
		code, stdout, stderr := runCmd(t, c.args...)
		if code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q (stdout %q); want exit %d and %q", c.args, code, stderr, stdout, c.code, c.want)
		}
		if code == exitError && strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
			t.Errorf("%v: error is not one line: %q", c.args, stderr)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("files left behind: %v", entries)
	}
}

func TestParseIndices(t *testing.T) {
	if v, err := parseIndices(" 1, 2,3"); err != nil || len(v) != 3 || v[2] != 3 {
		t.Errorf("%v %v", v, err)
	}
	for _, s := range []string{"1,,2", "-1", "a", "1,1"} {
		if _, err := parseIndices(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

// TestForwardTestdataUpToDate: the committed testdata/forward is what
// scripts/fixtures/forward_make_testdata.py makes (needs Debian's torch; CI has it,
// and there a missing torch fails the test).
func TestForwardTestdataUpToDate(t *testing.T) {
	oracle.Require(t, "torch", "PIL", "numpy")
	py := oracle.Python
	dir := t.TempDir()
	if out, err := exec.Command(py, oracle.Script(t, "fixtures/forward_make_testdata.py"), "--out", dir).CombinedOutput(); err != nil {
		t.Fatalf("forward_make_testdata.py: %v\n%s", err, out)
	}
	made, _ := os.ReadDir(dir)
	committed, _ := os.ReadDir(fwd)
	if len(made) != len(committed) {
		t.Errorf("the script makes %d files, testdata/forward holds %d", len(made), len(committed))
	}
	for _, e := range made {
		a, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		b, err := os.ReadFile(filepath.Join(fwd, e.Name()))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("testdata/forward/%s is not what scripts/fixtures/forward_make_testdata.py makes: regenerate it", e.Name())
		}
	}
}

// TestForwardDefaultModel: without --model, forward resolves the zoo's
// Swin-T and names the file on stderr.
func TestForwardDefaultModel(t *testing.T) {
	io, out, errOut := testStreams()
	var asked string
	opts := &forwardOptions{IO: io, Images: []string{fwd + "scene.png"}, Semantics: "glip", Format: "text", Size: "64",
		Atol: compare.DefaultAtol, Rtol: compare.DefaultRtol,
		Resolve: func(_ context.Context, name string) (string, error) {
			asked = name
			return fwd + "tiny_official.pth", nil
		}}
	if err := forwardRun(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	if asked != defaultForwardModel || !strings.Contains(errOut.String(), "model swin-t_glip-pre_3rdparty: "+fwd+"tiny_official.pth") {
		t.Errorf("resolved %q; stderr %q", asked, errOut)
	}
	if !strings.Contains(out.String(), "stage3") {
		t.Errorf("stdout %q", out)
	}
}

// TestForwardSaveInput: --save-input writes the exact tensor fed to the
// model: equal to PIL's preprocessing of the image
// (scripts/oracles/forward_pil_ref.py), and running forward on it gives the same
// features, bit for bit. Two images of one size make one (2, 3, H, W)
// batch.
func TestForwardSaveInput(t *testing.T) {
	oracle.Require(t, "PIL", "numpy")
	dir := t.TempDir()
	x, a, b := filepath.Join(dir, "x.npy"), filepath.Join(dir, "a.safetensors"), filepath.Join(dir, "b.safetensors")
	m := fwd + "tiny_official.pth"
	if code, _, stderr := runCmd(t, "forward", "-m", m, fwd+"scene.png", "--save-input", x, "-o", a); code != 0 {
		t.Fatal(stderr)
	}
	if code, _, stderr := runCmd(t, "forward", "-m", m, "--input", x, "-o", b); code != 0 {
		t.Fatal(stderr)
	}
	ba, _ := os.ReadFile(a)
	bb, _ := os.ReadFile(b)
	// The metadata is the same too: neither names its inputs.
	if !bytes.Equal(ba, bb) {
		t.Error("features of the saved input differ from those of the image")
	}
	jobs := filepath.Join(dir, "jobs.json")
	os.WriteFile(jobs, []byte(`[{"image": "`+fwd+`scene.png", "resize": [224, 224], "name": "scene"}]`), 0o644)
	if out, err := exec.Command(oracle.Python, oracle.Script(t, "oracles/forward_pil_ref.py"), jobs, dir).CombinedOutput(); err != nil {
		t.Fatalf("forward_pil_ref.py: %v\n%s", err, out)
	}
	gs, got, err := preprocess.ReadNPY(x)
	if err != nil {
		t.Fatal(err)
	}
	ws, want, err := preprocess.ReadNPY(filepath.Join(dir, "scene_norm.npy"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(gs, ws) || !slices.Equal(got, want) {
		t.Errorf("saved input %v differs from PIL's %v", gs, ws)
	}
	two := filepath.Join(dir, "two.npy")
	if code, _, stderr := runCmd(t, "forward", "-m", m, fwd+"scene.png", fwd+"scene.png", "--save-input", two); code != 0 {
		t.Fatal(stderr)
	}
	if s, _, err := preprocess.ReadNPY(two); err != nil || !slices.Equal(s, []int{2, 3, 224, 224}) {
		t.Errorf("two images: shape %v, %v", s, err)
	}
	// Inputs of two sizes make no batch: an error, and no file.
	mixed := filepath.Join(dir, "mixed.npy")
	if code, _, stderr := runCmd(t, "forward", "-m", m, "--semantics", "glip", fwd+"scene.png", "--input", fwd+"x_37x53.npy", "--save-input", mixed); code != exitError || !strings.Contains(stderr, "one size") {
		t.Errorf("mixed sizes: exit %d %s", code, stderr)
	}
	if _, err := os.Stat(mixed); err == nil {
		t.Error("mixed sizes: a file was written")
	}
}

// TestForwardCV2Pipeline: with --preprocess cv2 --interp bicubic the model
// is fed exactly what cv2.imread, cv2.resize(INTER_CUBIC) and GLIP's
// normalisation give (Debian's OpenCV), and --interp bilinear differs.
func TestForwardCV2Pipeline(t *testing.T) {
	oracle.Require(t, "cv2", "numpy")
	dir := t.TempDir()
	ref := filepath.Join(dir, "ref.npy")
	script := `
import sys, cv2, numpy as np
img = cv2.imread(sys.argv[1], cv2.IMREAD_COLOR)
img = cv2.resize(img, (224, 224), interpolation=cv2.INTER_CUBIC)
mean = np.array([103.53, 116.28, 123.675], dtype=np.float32)
std = np.array([57.375, 57.12, 58.395], dtype=np.float32)
x = ((img.astype(np.float32) - mean) / std).transpose(2, 0, 1)[None]
np.save(sys.argv[2], np.ascontiguousarray(x))
`
	if out, err := exec.Command(oracle.Python, "-c", script, fwd+"scene.png", ref).CombinedOutput(); err != nil {
		t.Fatalf("cv2: %v\n%s", err, out)
	}
	m := fwd + "tiny_official.pth"
	for _, interp := range []string{"bicubic", "bilinear"} {
		x := filepath.Join(dir, interp+".npy")
		if code, _, stderr := runCmd(t, "forward", "-m", m, "--preprocess", "cv2", "--interp", interp, fwd+"scene.png", "--save-input", x); code != 0 {
			t.Fatal(stderr)
		}
		_, got, err := preprocess.ReadNPY(x)
		if err != nil {
			t.Fatal(err)
		}
		_, want, err := preprocess.ReadNPY(ref)
		if err != nil {
			t.Fatal(err)
		}
		if same := slices.Equal(got, want); same != (interp == "bicubic") {
			t.Errorf("%s: equal to cv2's INTER_CUBIC input: %v", interp, same)
		}
	}
	if code, _, _ := runCmd(t, "forward", "-m", m, "--preprocess", "timm", fwd+"scene.png"); code != exitUsage {
		t.Errorf("--preprocess timm: exit %d", code)
	}
}

// TestForwardJPEGMatchesTorch: for a 640x480 4:2:0 q85 JPEG (PIL's default
// encoding), glipctl forward feeds the model exactly PIL's pixels (and with
// --preprocess cv2, exactly OpenCV's), and its features equal PyTorch's
// (scripts/oracles/forward_torch.py, the reference Swin) on those pixels within
// 1e-4 x max|ref|.
func TestForwardJPEGMatchesTorch(t *testing.T) {
	oracle.Require(t, "torch", "PIL", "cv2", "numpy")
	dir := t.TempDir()
	photo := filepath.Join(dir, "photo.jpg")
	script := `
import sys, numpy as np, cv2
from PIL import Image
rng = np.random.default_rng(7)
y, x = np.mgrid[0:480, 0:640]
img = np.stack([(x * 0.4 + 40 * np.sin(y / 23.0)), (y * 0.5 + 30 * np.cos(x / 17.0)), ((x + y) * 0.2)], -1)
img[100:220, 300:420] = [250, 20, 30]
img = np.clip(img + rng.normal(0, 12, img.shape), 0, 255).astype(np.uint8)
Image.fromarray(img).save(sys.argv[1], quality=85)
d = sys.argv[2]
mean = np.array([103.53, 116.28, 123.675], dtype=np.float32)
std = np.array([57.375, 57.12, 58.395], dtype=np.float32)
def save(name, bgr):
    x = ((bgr.astype(np.float32) - mean) / std).transpose(2, 0, 1)[None]
    np.save(f"{d}/{name}.npy", np.ascontiguousarray(x))
pil = np.asarray(Image.open(sys.argv[1]).convert("RGB").resize((224, 224), Image.BILINEAR))[:, :, ::-1]
save("ref_pil", pil)
cv = cv2.resize(cv2.imread(sys.argv[1], cv2.IMREAD_COLOR), (224, 224), interpolation=cv2.INTER_LINEAR)
save("ref_cv2", cv)
`
	if out, err := exec.Command(oracle.Python, "-c", script, photo, dir).CombinedOutput(); err != nil {
		t.Fatalf("PIL/cv2: %v\n%s", err, out)
	}
	weights := filepath.Join(dir, "tiny.pth")
	if code, _, stderr := runCmd(t, "convert", fwd+"tiny_mm.safetensors", "-o", weights, "--no-sync"); code != 0 {
		t.Fatal(stderr)
	}
	for _, pipe := range []string{"pil", "cv2"} {
		x, feats, ref := filepath.Join(dir, pipe+".npy"), filepath.Join(dir, pipe+".safetensors"), filepath.Join(dir, "torch_"+pipe+".safetensors")
		if code, _, stderr := runCmd(t, "forward", "-m", fwd+"tiny_mm.safetensors", "--preprocess", pipe, photo, "--save-input", x, "-o", feats); code != 0 {
			t.Fatal(stderr)
		}
		_, got, err := preprocess.ReadNPY(x)
		if err != nil {
			t.Fatal(err)
		}
		_, want, err := preprocess.ReadNPY(filepath.Join(dir, "ref_"+pipe+".npy"))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: the model input differs from the library's pixels", pipe)
		}
		cmd := exec.Command(oracle.Python, oracle.Script(t, "oracles/forward_torch.py"), "run", "--impl", "ref",
			"--weights", weights, "--input", filepath.Join(dir, "ref_"+pipe+".npy"), "--out", ref)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("forward_torch.py: %v\n%s", err, out)
		}
		rel := maxRelDiff(t, feats, ref, nil)
		t.Logf("%s: worst max|diff|/max|ref| %.3g", pipe, rel)
		if rel > 1e-4 {
			t.Errorf("%s: features differ from PyTorch's by %.3g of max|ref|", pipe, rel)
		}
	}
}
