package preprocess

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/glipctl/glipctl/internal/oracle"
)

// testImages returns images of every kind the PNG decoder produces, with
// content that exercises the resampling (gradients, edges, noise).
func testImages() map[string]image.Image {
	rng := rand.New(rand.NewPCG(1, 2))
	pattern := func(x, y, c int) uint8 {
		v := (x*7+y*3+c*50)%256 + int(rng.IntN(40)) - 20
		if (x/9+y/7)%2 == 0 {
			v = 255 - v
		}
		return uint8(max(0, min(255, v)))
	}
	imgs := map[string]image.Image{}
	rgb := image.NewRGBA(image.Rect(0, 0, 97, 61))
	for y := 0; y < 61; y++ {
		for x := 0; x < 97; x++ {
			rgb.SetRGBA(x, y, color.RGBA{pattern(x, y, 0), pattern(x, y, 1), pattern(x, y, 2), 255})
		}
	}
	imgs["rgb"] = rgb
	big := image.NewRGBA(image.Rect(0, 0, 640, 480))
	for y := 0; y < 480; y++ {
		for x := 0; x < 640; x++ {
			big.SetRGBA(x, y, color.RGBA{pattern(x, y, 0), pattern(x, y, 1), pattern(x, y, 2), 255})
		}
	}
	imgs["big"] = big
	nrgba := image.NewNRGBA(image.Rect(0, 0, 45, 33))
	for y := 0; y < 33; y++ {
		for x := 0; x < 45; x++ {
			nrgba.SetNRGBA(x, y, color.NRGBA{pattern(x, y, 0), pattern(x, y, 1), pattern(x, y, 2), uint8((x * 37) % 256)})
		}
	}
	imgs["nrgba"] = nrgba
	gray := image.NewGray(image.Rect(0, 0, 50, 40))
	for y := 0; y < 40; y++ {
		for x := 0; x < 50; x++ {
			gray.SetGray(x, y, color.Gray{pattern(x, y, 1)})
		}
	}
	imgs["gray"] = gray
	pal := color.Palette{color.NRGBA{10, 20, 30, 0}}
	for i := 1; i < 16; i++ {
		pal = append(pal, color.RGBA{uint8(i * 16), uint8(255 - i*16), uint8(i * 7), 255})
	}
	paletted := image.NewPaletted(image.Rect(0, 0, 31, 29), pal)
	for y := 0; y < 29; y++ {
		for x := 0; x < 31; x++ {
			paletted.SetColorIndex(x, y, uint8((x+y*3)%16))
		}
	}
	imgs["paletted"] = paletted
	g16 := image.NewGray16(image.Rect(0, 0, 20, 17))
	for y := 0; y < 17; y++ {
		for x := 0; x < 20; x++ {
			g16.SetGray16(x, y, color.Gray16{uint16((x*y*97 + x) % 600)})
		}
	}
	imgs["gray16"] = g16
	rgb64 := image.NewRGBA64(image.Rect(0, 0, 23, 19))
	for y := 0; y < 19; y++ {
		for x := 0; x < 23; x++ {
			rgb64.SetRGBA64(x, y, color.RGBA64{uint16(x * 2811), uint16(y * 3301), uint16((x + y) * 1234), 0xffff})
		}
	}
	imgs["rgb64"] = rgb64
	nrgba64 := image.NewNRGBA64(image.Rect(0, 0, 23, 19))
	for y := 0; y < 19; y++ {
		for x := 0; x < 23; x++ {
			nrgba64.SetNRGBA64(x, y, color.NRGBA64{uint16(x * 2811), uint16(y * 3301), uint16((x + y) * 1234), uint16(x * 2000)})
		}
	}
	imgs["nrgba64"] = nrgba64
	return imgs
}

type pilJob struct {
	Image  string `json:"image"`
	Resize []int  `json:"resize"`
	Name   string `json:"name"`
}

func TestPreprocessMatchesPIL(t *testing.T) {
	oracle.Require(t, "PIL", "numpy")
	dir := t.TempDir()
	var jobs []pilJob
	decoded := map[string]*Image{}
	for name, img := range testImages() {
		path := filepath.Join(dir, name+".png")
		var buf bytes.Buffer
		if err := png.Encode(&buf, img); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		m, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		decoded[name] = m
		jobs = append(jobs, pilJob{Image: path, Name: name})
		sizes := [][2]int{{224, 224}, {19, 13}}
		if name == "rgb" {
			sizes = append(sizes, [2]int{40, 30}, [2]int{97, 30}, [2]int{50, 61}, [2]int{13, 200}, [2]int{300, 7})
		}
		if name == "big" {
			sizes = append(sizes, [2]int{384, 384}, [2]int{298, 224})
		}
		for _, s := range sizes {
			jobs = append(jobs, pilJob{Image: path, Resize: []int{s[0], s[1]}, Name: fmt.Sprintf("%s_%dx%d", name, s[0], s[1])})
		}
	}
	// A JPEG of smooth content: Go's decoder is not libjpeg's; only
	// reported and bounded.
	smooth := image.NewRGBA(image.Rect(0, 0, 160, 120))
	for y := 0; y < 120; y++ {
		for x := 0; x < 160; x++ {
			smooth.SetRGBA(x, y, color.RGBA{uint8(x + y/2), uint8(2 * y), uint8(200 - x/2 + (x*y)%5), 255})
		}
	}
	var jb bytes.Buffer
	if err := jpeg.Encode(&jb, smooth, &jpeg.Options{Quality: 92}); err != nil {
		t.Fatal(err)
	}
	jpath := filepath.Join(dir, "big.jpg")
	if err := os.WriteFile(jpath, jb.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	jobs = append(jobs, pilJob{Image: jpath, Name: "jpeg"})
	jm, err := Load(jpath)
	if err != nil {
		t.Fatal(err)
	}
	decoded["jpeg"] = jm

	jobsPath := filepath.Join(dir, "jobs.json")
	data, _ := json.Marshal(jobs)
	if err := os.WriteFile(jobsPath, data, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(oracle.Python, oracle.Script(t, "oracles/forward_pil_ref.py"), jobsPath, dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("forward_pil_ref.py: %v\n%s", err, out)
	}
	worstResize := 0.0
	for _, j := range jobs {
		src := decoded[strings.SplitN(j.Name, "_", 2)[0]]
		m := src
		if j.Resize != nil {
			if m, err = src.Resize(j.Resize[0], j.Resize[1]); err != nil {
				t.Fatal(err)
			}
		}
		shape, want, err := ReadNPY(filepath.Join(dir, j.Name+"_bgr.npy"))
		if err != nil {
			t.Fatal(err)
		}
		if len(shape) != 3 || shape[0] != m.H || shape[1] != m.W || shape[2] != 3 {
			t.Fatalf("%s: PIL gives %v, we give %dx%d", j.Name, shape, m.H, m.W)
		}
		maxd, ndiff, sumd := 0.0, 0, 0.0
		for i, v := range want {
			d := math.Abs(float64(m.Pix[i]) - float64(v))
			if d > 0 {
				ndiff++
			}
			maxd = max(maxd, d)
			sumd += d
		}
		switch {
		case j.Name == "jpeg":
			// libjpeg upsamples chroma with a triangle filter, Go's
			// decoder replicates it: large differences at sharp colour
			// edges, small on average.
			mean := sumd / float64(len(want))
			t.Logf("%s: Go's JPEG decoder vs libjpeg: mean %.2f, max %v levels, %d of %d values differ", j.Name, mean, maxd, ndiff, len(want))
			if mean > 3 {
				t.Errorf("%s: JPEG decode differs from PIL by %.2f levels on average", j.Name, mean)
			}
			continue
		case j.Resize == nil && maxd != 0:
			t.Errorf("%s: decode differs from PIL: max %v levels, %d values", j.Name, maxd, ndiff)
		case j.Resize != nil && maxd > 1:
			t.Errorf("%s: resize differs from PIL by %v levels (%d values)", j.Name, maxd, ndiff)
		}
		if j.Resize != nil {
			worstResize = max(worstResize, maxd)
		}
		// The normalised tensor: bit-exact when the pixels are.
		_, wantN, err := ReadNPY(filepath.Join(dir, j.Name+"_norm.npy"))
		if err != nil {
			t.Fatal(err)
		}
		got := m.Normalize(MeanBGR, StdBGR)
		if maxd == 0 {
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(wantN[i]) {
					t.Fatalf("%s: normalised value %d is %v, PIL+numpy %v", j.Name, i, got[i], wantN[i])
				}
			}
		}
	}
	t.Logf("worst resize difference to PIL: %v intensity levels", worstResize)
}

func TestTarget(t *testing.T) {
	for _, c := range []struct {
		mode       ResizeMode
		n, w, h    int
		wantW, wnH int
	}{
		{ResizeSquare, 224, 640, 480, 224, 224},
		{ResizeShortEdge, 224, 640, 480, 298, 224},
		{ResizeShortEdge, 224, 480, 640, 224, 298},
		{ResizeShortEdge, 100, 100, 100, 100, 100},
		{ResizeNone, 224, 33, 17, 33, 17},
	} {
		w, h := Target(c.mode, c.n, c.w, c.h)
		if w != c.wantW || h != c.wnH {
			t.Errorf("Target(%v, %d, %dx%d) = %dx%d, want %dx%d", c.mode, c.n, c.w, c.h, w, h, c.wantW, c.wnH)
		}
	}
}

func npyBytes(version int, header string, data []byte) []byte {
	var b bytes.Buffer
	b.WriteString(npyMagic)
	if version == 1 {
		b.Write([]byte{1, 0})
		binary.Write(&b, binary.LittleEndian, uint16(len(header)))
	} else {
		b.Write([]byte{byte(version), 0})
		binary.Write(&b, binary.LittleEndian, uint32(len(header)))
	}
	b.WriteString(header)
	b.Write(data)
	return b.Bytes()
}

func TestReadNPYStrict(t *testing.T) {
	dir := t.TempDir()
	data := make([]byte, 4*6)
	for i := 0; i < 6; i++ {
		binary.LittleEndian.PutUint32(data[4*i:], math.Float32bits(float32(i)+0.5))
	}
	good := "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 2, 1), }    \n"
	cases := []struct {
		name string
		raw  []byte
		want string // "" = ok
	}{
		{"v1", npyBytes(1, good, data), ""},
		{"v2", npyBytes(2, good, data), ""},
		{"keys in another order", npyBytes(1, "{'shape': (1, 3, 2, 1), 'descr': '<f4', 'fortran_order': False}\n", data), ""},
		{"v3", npyBytes(3, good, data), "version 3.0"},
		{"big endian", npyBytes(1, strings.Replace(good, "<f4", ">f4", 1), data), "dtype \">f4\""},
		{"float64", npyBytes(1, strings.Replace(good, "<f4", "<f8", 1), data), "dtype \"<f8\""},
		{"fortran", npyBytes(1, strings.Replace(good, "False", "True", 1), data), "Fortran"},
		{"short data", npyBytes(1, good, data[:20]), "needs 24"},
		{"long data", npyBytes(1, good, append(append([]byte{}, data...), 0, 0, 0, 0)), "needs 24"},
		{"extra key", npyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), 'x': 1}\n", data), "unexpected key"},
		{"missing key", npyBytes(1, "{'descr': '<f4', 'shape': (6,)}\n", data), "missing"},
		{"negative dim", npyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (-6,)}\n", data), "non-negative"},
		{"huge dim", npyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (999999999999, 999999999999)}\n", data), "overflow"},
		{"bad magic", append([]byte("\x93NUMPX"), npyBytes(1, good, data)[6:]...), "bad magic"},
		{"header too long", npyBytes(1, good, nil)[:10], "does not fit"},
		{"no newline", npyBytes(1, strings.TrimSuffix(good, "\n")+" ", data), "trailing"},
	}
	for _, c := range cases {
		p := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".npy")
		if err := os.WriteFile(p, c.raw, 0o644); err != nil {
			t.Fatal(err)
		}
		shape, vals, err := ReadNPY(p)
		if c.want == "" {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
				continue
			}
			if len(vals) != 6 || vals[5] != 5.5 || len(shape) == 0 {
				t.Errorf("%s: got %v %v", c.name, shape, vals)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %v, want one naming the file and containing %q", c.name, err, c.want)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	if _, err := Decode(strings.NewReader("GIF89a....")); err == nil || !strings.Contains(err.Error(), "not a JPEG or PNG") {
		t.Errorf("GIF: %v", err)
	}
	// A PNG header claiming a huge size is refused before allocation.
	var b bytes.Buffer
	png.Encode(&b, image.NewGray(image.Rect(0, 0, 1, 1)))
	raw := b.Bytes()
	binary.BigEndian.PutUint32(raw[16:], 1<<20)
	binary.BigEndian.PutUint32(raw[20:], 1<<20)
	if _, err := Decode(bytes.NewReader(raw)); err == nil {
		t.Error("huge PNG accepted")
	}
}
