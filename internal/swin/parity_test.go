package swin

import (
	"encoding/binary"
	"fmt"

	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/glipctl/glipctl/internal/ckpt"
	"github.com/glipctl/glipctl/internal/ckpt/formats"
	"github.com/glipctl/glipctl/internal/ckpt/gguf"
	"github.com/glipctl/glipctl/internal/preprocess"
)

// parityTol is the parity bound: max |go - ref| <= parityTol * max |ref| in
// every output stage.
const parityTol = 1e-4

func loadInput(t testing.TB, path string) Input {
	t.Helper()
	shape, data, err := preprocess.ReadNPY(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(shape) != 4 {
		t.Fatalf("%s: shape %v", path, shape)
	}
	return Input{N: shape[0], C: shape[1], H: shape[2], W: shape[3], Data: data}
}

// checkCase runs one manifest case on a model and compares it with the
// reference; it returns the worst max|diff|/max|ref| over the stages.
func checkCase(t *testing.T, dir string, m *Model, c refCase) float64 {
	t.Helper()
	sem, err := ParseSemantics(c.Semantics)
	if err != nil {
		t.Fatal(err)
	}
	x := loadInput(t, filepath.Join(dir, c.Input))
	feats, err := m.Forward(x, Options{Semantics: sem})
	if c.ErrorStage != nil {
		want := fmt.Sprintf("stage %d:", *c.ErrorStage)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "glip") {
			t.Fatalf("%s %s: error %v, want one naming %q and suggesting glip", c.Semantics, c.Input, err, want)
		}
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	refs := readSafetensors(t, filepath.Join(dir, c.Ref))
	if len(refs) != len(feats) {
		t.Fatalf("%d features, reference has %d", len(feats), len(refs))
	}
	worst := 0.0
	for _, f := range feats {
		d, r := compareFeature(t, f, tensorByName(refs, fmt.Sprintf("stage%d", f.Stage)))
		rel := d / r
		worst = max(worst, rel)
		if !(rel <= parityTol) {
			t.Errorf("%s: stage%d: max abs diff %.3g is %.3g of max|ref| %.3g (limit %g)", c.Ref, f.Stage, d, rel, r, parityTol)
		}
	}
	return worst
}

// TestParity runs every case of the fixtures (both semantics, square,
// non-square, not multiples of 32 or 4, T- and L-shaped models, F32, F16
// and BF16 weights, a batch of 2) from safetensors weights read by the
// test's own reader, with the default kernel (internal/gemm: fused
// epilogues, batched attention products).
func TestParity(t *testing.T) { testParity(t, nil) }

// TestParityGoMatMul runs the same cases with GoMatMul, which has none of
// the optional capabilities: plain MatMulT and separate passes.
func TestParityGoMatMul(t *testing.T) { testParity(t, GoMatMul{}) }

func testParity(t *testing.T, mm MatMul) {
	dir := forwardRefs(t)
	man := readManifest(t, dir)
	models := map[string]*Model{}
	worst := map[string]float64{}
	for _, c := range man.Cases {
		key := c.Model + "_" + c.Weights
		m := models[key]
		if m == nil {
			file := fmt.Sprintf("%s_mm.safetensors", c.Model)
			if c.Weights != "f32" {
				file = fmt.Sprintf("%s_mm_%s.safetensors", c.Model, c.Weights)
			}
			var err error
			if m, err = FromTensors(readSafetensors(t, filepath.Join(dir, file))); err != nil {
				t.Fatal(err)
			}
			m.MatMul = mm
			models[key] = m
		}
		name := fmt.Sprintf("%s/%s/%s/%dx%d/b%d", c.Model, c.Weights, c.Semantics, c.Size[0], c.Size[1], c.Batch)
		t.Run(name, func(t *testing.T) {
			w := checkCase(t, dir, m, c)
			if c.ErrorStage == nil {
				t.Logf("worst max|diff|/max|ref| %.3g", w)
			}
			worst[c.Model+"/"+c.Semantics] = max(worst[c.Model+"/"+c.Semantics], w)
		})
	}
	for k, v := range worst {
		t.Logf("%s: worst max|diff|/max|ref| %.3g", k, v)
	}
}

// TestParityFormats loads the same weights through formats.Open from every
// file the fixtures hold (official and mmpretrain .pth, legacy .pth,
// safetensors, and a GGUF f32 written here), and checks a glip and an
// mmpretrain case each. A format formats.Open does not read yet is skipped
// with a message.
func TestParityFormats(t *testing.T) {
	dir := forwardRefs(t)
	man := readManifest(t, dir)
	pick := func(model, sem string) refCase {
		for _, c := range man.Cases {
			if c.Model == model && c.Semantics == sem && c.Weights == "f32" && c.Ref != "" && c.Batch == 1 {
				return c
			}
		}
		t.Fatalf("no case %s %s", model, sem)
		return refCase{}
	}
	for _, model := range []string{"t", "l"} {
		ggufPath := filepath.Join(t.TempDir(), model+"_mm_f32.gguf")
		writeGGUF(t, ggufPath, readSafetensors(t, filepath.Join(dir, model+"_mm.safetensors")), false)
		files := []string{
			filepath.Join(dir, model+"_official.pth"),
			filepath.Join(dir, model+"_mm.pth"),
			filepath.Join(dir, model+"_mm.safetensors"),
			ggufPath,
		}
		if model == "t" {
			files = append(files, filepath.Join(dir, "t_official_legacy.pth"))
		}
		for _, f := range files {
			t.Run(model+"/"+filepath.Base(f), func(t *testing.T) {
				c, err := formats.Open(f, ckpt.OpenOptions{})
				if err != nil {
					if strings.Contains(err.Error(), "unrecognised format") {
						t.Skipf("formats.Open does not read this format yet: %v", err)
					}
					t.Fatal(err)
				}
				defer c.Close()
				m, err := modelFromCheckpoint(c)
				if err != nil {
					t.Fatal(err)
				}
				for _, sem := range []string{"glip", "mmpretrain"} {
					w := checkCase(t, dir, m, pick(model, sem))
					t.Logf("%s: worst max|diff|/max|ref| %.3g", sem, w)
				}
			})
		}
	}
}

// writeGGUF writes tensors as a GGUF v3 file with the project's writer
// (short-v1 names, which ggml's 63-byte limit needs), Q8_0 weight matrices
// when q8 is set.
func writeGGUF(t testing.TB, path string, ts []*ckpt.Tensor, q8 bool) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	opts := gguf.WriteOptions{ShortNames: true}
	if q8 {
		opts.Quantize = gguf.Q8Weights
	}
	if err := gguf.Write(f, []gguf.KV{{Key: "general.architecture", Value: gguf.String("swin")}}, ts, opts); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// quantizeQ8 returns a Q8_0 copy of an F32 tensor (ggml's reference
// quantizer: per block of 32, d = max|x|/127, q = round(x/d)).
func quantizeQ8(t testing.TB, tn *ckpt.Tensor) *ckpt.Tensor {
	t.Helper()
	v, err := tn.Float32()
	if err != nil {
		t.Fatal(err)
	}
	var raw []byte
	for b := 0; b < len(v); b += 32 {
		amax := 0.0
		for _, x := range v[b : b+32] {
			amax = max(amax, math.Abs(float64(x)))
		}
		d := amax / 127
		h := float16bits(float32(d))
		raw = binary.LittleEndian.AppendUint16(raw, h)
		for _, x := range v[b : b+32] {
			q := 0.0
			if d != 0 {
				q = math.Round(float64(x) / d)
			}
			raw = append(raw, byte(int8(q)))
		}
	}
	q, err := ckpt.FromBytes(tn.Name, ckpt.Q8_0, tn.Shape, raw)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// float16bits rounds a float32 to IEEE half precision (normal range only,
// enough for quantisation scales).
func float16bits(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int((b>>23)&0xff) - 127 + 15
	mant := b & 0x7fffff
	if exp <= 0 {
		return sign
	}
	// round to nearest even on the 13 dropped bits
	m := mant >> 13
	rem := mant & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && m&1 == 1) {
		m++
		if m == 0x400 {
			m = 0
			exp++
		}
	}
	return sign | uint16(exp)<<10 | uint16(m)
}

// TestQ8_0Weights: Q8_0 weights are computed in f32 after dequantisation:
// the forward pass from Q8_0 tensors equals, bit for bit, the pass from
// their dequantised F32 copies, and stays close to the F32 reference.
func TestQ8_0Weights(t *testing.T) {
	dir := forwardRefs(t)
	ts := readSafetensors(t, filepath.Join(dir, "t_mm.safetensors"))
	var q8, deq []*ckpt.Tensor
	for _, tn := range ts {
		if tn.DType != ckpt.F32 || tn.Numel()%32 != 0 || len(tn.Shape) != 2 || strings.Contains(tn.Name, "bias_table") {
			q8 = append(q8, tn)
			deq = append(deq, tn)
			continue
		}
		q := quantizeQ8(t, tn)
		v, err := q.Float32()
		if err != nil {
			t.Fatal(err)
		}
		d, _ := ckpt.FromFloat32(tn.Name, tn.Shape, v)
		q8 = append(q8, q)
		deq = append(deq, d)
	}
	mq, err := FromTensors(q8)
	if err != nil {
		t.Fatal(err)
	}
	md, err := FromTensors(deq)
	if err != nil {
		t.Fatal(err)
	}
	var c refCase
	for _, cc := range readManifest(t, dir).Cases {
		if cc.Model == "t" && cc.Weights == "f32" && cc.Semantics == "glip" && cc.Size[0] == 100 {
			c = cc
		}
	}
	x := loadInput(t, filepath.Join(dir, c.Input))
	fq, err := mq.Forward(x, Options{Semantics: GLIP})
	if err != nil {
		t.Fatal(err)
	}
	fd, err := md.Forward(x, Options{Semantics: GLIP})
	if err != nil {
		t.Fatal(err)
	}
	refs := readSafetensors(t, filepath.Join(dir, c.Ref))
	// The same through a Q8_0 GGUF file (the project's quantizer) and
	// formats.Open.
	gpath := filepath.Join(t.TempDir(), "t_q8.gguf")
	writeGGUF(t, gpath, ts, true)
	gc, err := formats.Open(gpath, ckpt.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer gc.Close()
	nq := 0
	for _, tn := range gc.Tensors {
		if tn.DType == ckpt.Q8_0 {
			nq++
		}
	}
	if nq == 0 {
		t.Fatal("the Q8_0 GGUF holds no Q8_0 tensor")
	}
	mg, err := modelFromCheckpoint(gc)
	if err != nil {
		t.Fatal(err)
	}
	fg, err := mg.Forward(x, Options{Semantics: GLIP})
	if err != nil {
		t.Fatal(err)
	}
	for i := range fg {
		want, _ := tensorByName(refs, fmt.Sprintf("stage%d", fg[i].Stage)).Float32()
		cos := cosine(fg[i].Data, want)
		t.Logf("stage%d: Q8_0 GGUF (%d Q8_0 tensors) vs F32 reference: cosine %.6f", fg[i].Stage, nq, cos)
		if cos < 0.99 {
			t.Errorf("stage%d: Q8_0 GGUF gives cosine %.4f to the F32 reference", fg[i].Stage, cos)
		}
	}
	for i := range fq {
		for j := range fq[i].Data {
			if math.Float32bits(fq[i].Data[j]) != math.Float32bits(fd[i].Data[j]) {
				t.Fatalf("stage%d: Q8_0 and dequantised F32 weights differ at %d", fq[i].Stage, j)
			}
		}
		want, _ := tensorByName(refs, fmt.Sprintf("stage%d", fq[i].Stage)).Float32()
		cos := cosine(fq[i].Data, want)
		t.Logf("stage%d: Q8_0 weights vs F32 reference: cosine %.6f", fq[i].Stage, cos)
		if cos < 0.99 {
			t.Errorf("stage%d: Q8_0 weights give cosine %.4f to the F32 reference", fq[i].Stage, cos)
		}
	}
}

func cosine(a, b []float32) float64 {
	var ab, aa, bb float64
	for i := range a {
		ab += float64(a[i]) * float64(b[i])
		aa += float64(a[i]) * float64(a[i])
		bb += float64(b[i]) * float64(b[i])
	}
	return ab / math.Sqrt(aa*bb)
}
