package jpeg

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/glipctl/glipctl/internal/oracle"
)

type refEntry struct {
	Name string          `json:"name"`
	PIL  json.RawMessage `json:"pil"`
	CV2  []int           `json:"cv2"`
}

// corpusDir builds the corpus and the PIL and OpenCV references once per
// test binary (one Python invocation).
var corpusCache struct {
	dir string
	err error
}

func buildCorpus(t *testing.T) (string, []refEntry) {
	t.Helper()
	oracle.Require(t, "PIL", "cv2", "numpy")
	if _, err := exec.LookPath("cjpeg"); err != nil {
		msg := "cjpeg not found: install Debian's libjpeg-turbo-progs"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	if corpusCache.dir == "" && corpusCache.err == nil {
		dir, err := os.MkdirTemp("", "glipctl-jpeg-corpus-")
		if err == nil {
			script := oracle.Script(t, "fixtures/make_jpeg_corpus.py")
			out, e := exec.Command(oracle.Python, script, "--refs", dir).CombinedOutput()
			if e != nil {
				err = fmt.Errorf("%s: %v\n%s", script, e, out)
			}
		}
		corpusCache.dir, corpusCache.err = dir, err
	}
	if corpusCache.err != nil {
		t.Fatal(corpusCache.err)
	}
	raw, err := os.ReadFile(filepath.Join(corpusCache.dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var refs []refEntry
	if err := json.Unmarshal(raw, &refs); err != nil {
		t.Fatal(err)
	}
	if len(refs) < 100 {
		t.Fatalf("corpus has only %d files", len(refs))
	}
	return corpusCache.dir, refs
}

func TestMain(m *testing.M) {
	code := m.Run()
	if corpusCache.dir != "" {
		os.RemoveAll(corpusCache.dir)
	}
	os.Exit(code)
}

// orient applies EXIF orientation o to w x h interleaved 3-sample pixels,
// as OpenCV's imread does.
func orient(pix []byte, w, h, o int) ([]byte, int, int) {
	ow, oh := w, h
	if o >= 5 {
		ow, oh = h, w
	}
	out := make([]byte, len(pix))
	for y := 0; y < oh; y++ {
		for x := 0; x < ow; x++ {
			var sx, sy int
			switch o {
			case 2:
				sx, sy = w-1-x, y
			case 3:
				sx, sy = w-1-x, h-1-y
			case 4:
				sx, sy = x, h-1-y
			case 5:
				sx, sy = y, x
			case 6:
				sx, sy = y, h-1-x
			case 7:
				sx, sy = w-1-y, h-1-x
			case 8:
				sx, sy = w-1-y, x
			default:
				sx, sy = x, y
			}
			copy(out[3*(y*ow+x):3*(y*ow+x)+3], pix[3*(sy*w+sx):3*(sy*w+sx)+3])
		}
	}
	return out, ow, oh
}

func diffStats(a, b []byte) (maxd, n int) {
	for i := range a {
		d := int(a[i]) - int(b[i])
		if d < 0 {
			d = -d
		}
		if d > 0 {
			n++
		}
		maxd = max(maxd, d)
	}
	return
}

// decodeVariants are the Options every corpus file is decoded with: the
// samples must be the same under each (only their order and the decoding
// goroutines differ), and a reused buffer must be overwritten whole.
var decodeVariants = []struct {
	name string
	opts func(dirty []byte) Options
}{
	{"default", func([]byte) Options { return Options{} }},
	{"one goroutine", func([]byte) Options { return Options{Workers: 1} }},
	{"3 goroutines", func([]byte) Options { return Options{Workers: 3} }},
	{"BGR", func([]byte) Options { return Options{BGR: true} }},
	{"BGR, 2 goroutines, reused buffer", func(dirty []byte) Options { return Options{BGR: true, Workers: 2, Pix: dirty} }},
}

// TestMatchesPILAndOpenCV decodes every corpus file and requires RGB() to
// equal PIL's convert("RGB") and BGR() (oriented) to equal cv2.imread, 0
// levels off, with each of decodeVariants; files both refuse must be
// refused.
func TestMatchesPILAndOpenCV(t *testing.T) {
	dir, refs := buildCorpus(t)
	failures := 0
	dirty := bytes.Repeat([]byte{0xA5}, 4*1280*1024)
	for _, r := range refs {
		data, err := os.ReadFile(filepath.Join(dir, r.Name))
		if err != nil {
			t.Fatal(err)
		}
		var pilShape []int
		pilOK := json.Unmarshal(r.PIL, &pilShape) == nil
		for _, v := range decodeVariants {
			name := r.Name + " (" + v.name + ")"
			img, err := DecodeWith(data, v.opts(dirty))
			if !pilOK {
				var je *Error
				if err == nil {
					t.Errorf("%s: decoded, but PIL refuses it (%s)", name, r.PIL)
					failures++
				} else if !errors.As(err, &je) || !je.Unsupported {
					t.Errorf("%s: %v, want an unsupported-feature *Error (PIL: %s)", name, err, r.PIL)
				}
				if r.CV2 != nil {
					t.Errorf("%s: OpenCV decodes what PIL refuses", name)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s: %v", name, err)
				failures++
				continue
			}
			if img.Height != pilShape[0] || img.Width != pilShape[1] {
				t.Errorf("%s: %dx%d, PIL %dx%d", name, img.Width, img.Height, pilShape[1], pilShape[0])
				continue
			}
			want, err := os.ReadFile(filepath.Join(dir, r.Name+".pil"))
			if err != nil {
				t.Fatal(err)
			}
			if got := img.RGB(); !bytes.Equal(got, want) {
				m, n := diffStats(got, want)
				t.Errorf("%s: RGB() differs from PIL: max %d levels, %d of %d values", name, m, n, len(want))
				failures++
			}
			if r.CV2 == nil {
				t.Errorf("%s: OpenCV refuses what PIL decodes", name)
				continue
			}
			wantBGR, err := os.ReadFile(filepath.Join(dir, r.Name+".cv2"))
			if err != nil {
				t.Fatal(err)
			}
			got, ow, oh := orient(img.BGR(), img.Width, img.Height, img.Orientation)
			if oh != r.CV2[0] || ow != r.CV2[1] {
				t.Errorf("%s: oriented %dx%d (orientation %d), OpenCV %dx%d", name, ow, oh, img.Orientation, r.CV2[1], r.CV2[0])
				continue
			}
			if !bytes.Equal(got, wantBGR) {
				m, n := diffStats(got, wantBGR)
				t.Errorf("%s: BGR() differs from cv2.imread: max %d levels, %d of %d values", name, m, n, len(wantBGR))
				failures++
			}
		}
	}
	t.Logf("%d files, %d variants each, %d failures", len(refs), len(decodeVariants), failures)
}

func fixtureFiles(t testing.TB) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(oracle.RepoRoot(t), "testdata", "jpeg", "*.jpg"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no fixtures in testdata/jpeg (%v)", err)
	}
	out := map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(p)] = b
	}
	return out
}

// TestTruncatedAndCorrupt cuts and damages every fixture: each result is a
// one-line *Error with an offset inside the input, never a panic.
func TestTruncatedAndCorrupt(t *testing.T) {
	for name, data := range fixtureFiles(t) {
		if _, err := Decode(data); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		check := func(what string, b []byte) {
			_, err := Decode(b)
			if err == nil {
				return // damage in padding or a skipped segment can be harmless
			}
			var je *Error
			if !errors.As(err, &je) {
				t.Fatalf("%s %s: error %T is not *Error: %v", name, what, err, err)
			}
			if je.Offset < 0 || je.Offset > len(b) {
				t.Errorf("%s %s: offset %d outside 0..%d", name, what, je.Offset, len(b))
			}
			if msg := err.Error(); strings.Contains(msg, "\n") || len(msg) > 200 {
				t.Errorf("%s %s: error not one short line: %q", name, what, msg)
			}
		}
		failedCuts := 0
		for n := 0; n < len(data)-2; n++ {
			b := data[:n]
			if _, err := Decode(b); err != nil {
				failedCuts++
			}
			check(fmt.Sprintf("cut at %d", n), b)
		}
		if failedCuts < (len(data)-2)*9/10 {
			t.Errorf("%s: only %d of %d truncations refused", name, failedCuts, len(data)-2)
		}
		for i := 0; i < len(data); i += 7 {
			b := bytes.Clone(data)
			b[i] ^= 0x5A
			check(fmt.Sprintf("byte %d flipped", i), b)
		}
	}
}

func TestDecodeConfig(t *testing.T) {
	for name, data := range fixtureFiles(t) {
		cfg, err := DecodeConfig(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		img, err := Decode(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if cfg != img.Config {
			t.Errorf("%s: DecodeConfig %+v, Decode %+v", name, cfg, img.Config)
		}
	}
}
