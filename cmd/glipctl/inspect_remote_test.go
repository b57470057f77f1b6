package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/glipctl/glipctl/internal/ckpt"
	"github.com/glipctl/glipctl/internal/ckpt/gguf"
	"github.com/glipctl/glipctl/internal/ckpt/pth"
	"github.com/glipctl/glipctl/internal/ckpt/safetensors"
)

// zeros is the Data of a tensor of zeros.
type zeros struct{}

func (zeros) ReadAt(p []byte, off int64) (int, error) {
	clear(p)
	return len(p), nil
}

// bigOfficialTensors are the tensors of the official GLIP Swin-T
// checkpoint (glip_tiny_model_o365_goldg_cc_sbu.pth), with their real
// shapes and zero values, in the layout of scripts/bench/gen_big_checkpoint.py: the
// backbone under module.backbone.body, a BERT-base language backbone, FPN
// and RPN heads, and an SGD momentum buffer for the backbone's floats and
// the word embeddings (about 760 MB, some 500 storages).
func bigOfficialTensors() []*ckpt.Tensor {
	var ts []*ckpt.Tensor
	add := func(name string, dt ckpt.DType, shape ...int64) {
		ts = append(ts, &ckpt.Tensor{Name: name, DType: dt, Shape: shape, Data: zeros{}})
	}
	f := func(name string, shape ...int64) { add(name, ckpt.F32, shape...) }
	const p = "module.backbone.body."
	embed, depths, heads, window := int64(96), []int64{2, 2, 6, 2}, []int64{3, 6, 12, 24}, int64(7)
	f(p+"patch_embed.proj.weight", embed, 3, 4, 4)
	for _, n := range []string{"patch_embed.proj.bias", "patch_embed.norm.weight", "patch_embed.norm.bias"} {
		f(p+n, embed)
	}
	for i, d := range depths {
		c := embed << i
		for j := range d {
			b := fmt.Sprintf("%slayers.%d.blocks.%d.", p, i, j)
			f(b+"norm1.weight", c)
			f(b+"norm1.bias", c)
			f(b+"attn.relative_position_bias_table", (2*window-1)*(2*window-1), heads[i])
			add(b+"attn.relative_position_index", ckpt.I64, window*window, window*window)
			f(b+"attn.qkv.weight", 3*c, c)
			f(b+"attn.qkv.bias", 3*c)
			f(b+"attn.proj.weight", c, c)
			f(b+"attn.proj.bias", c)
			f(b+"norm2.weight", c)
			f(b+"norm2.bias", c)
			f(b+"mlp.fc1.weight", 4*c, c)
			f(b+"mlp.fc1.bias", 4*c)
			f(b+"mlp.fc2.weight", c, 4*c)
			f(b+"mlp.fc2.bias", c)
		}
		if i < len(depths)-1 {
			f(fmt.Sprintf("%slayers.%d.downsample.reduction.weight", p, i), 2*c, 4*c)
			f(fmt.Sprintf("%slayers.%d.downsample.norm.weight", p, i), 4*c)
			f(fmt.Sprintf("%slayers.%d.downsample.norm.bias", p, i), 4*c)
		}
	}
	for k := 1; k <= 3; k++ {
		f(fmt.Sprintf("%snorm%d.weight", p, k), embed<<k)
		f(fmt.Sprintf("%snorm%d.bias", p, k), embed<<k)
	}
	var momentum []*ckpt.Tensor
	for _, t := range ts {
		if t.DType == ckpt.F32 {
			momentum = append(momentum, t)
		}
	}
	const lb = "module.language_backbone.body.model."
	f(lb+"embeddings.word_embeddings.weight", 30522, 768)
	momentum = append(momentum, ts[len(ts)-1])
	f(lb+"embeddings.position_embeddings.weight", 512, 768)
	for l := range 12 {
		q := fmt.Sprintf("%sencoder.layer.%d.", lb, l)
		for _, n := range []string{"attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"} {
			f(q+n+".weight", 768, 768)
			f(q+n+".bias", 768)
		}
		f(q+"intermediate.dense.weight", 3072, 768)
		f(q+"output.dense.weight", 768, 3072)
	}
	for k := range int64(3) {
		f(fmt.Sprintf("module.backbone.fpn.fpn_inner%d.weight", k), 256, embed<<(k+1), 1, 1)
		f(fmt.Sprintf("module.backbone.fpn.fpn_layer%d.weight", k), 256, 256, 3, 3)
	}
	f("module.rpn.head.cls_logits.weight", 80, 256, 3, 3)
	for i, m := range momentum {
		add(fmt.Sprintf("optimizer.state.%d.momentum_buffer", i), ckpt.F32, m.Shape...)
	}
	return ts
}

// sparseWriter writes a file, seeking over whole blocks of zeros instead of
// writing them, so that a large file of mostly zeros costs little disk.
type sparseWriter struct {
	f   *os.File
	off int64
}

var zeroBlock = make([]byte, 1<<16)

func (w *sparseWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		k := min(len(p), len(zeroBlock))
		if k == len(zeroBlock) && bytes.Equal(p[:k], zeroBlock) {
			w.off += int64(k)
		} else if _, err := w.f.WriteAt(p[:k], w.off); err != nil {
			return 0, err
		} else {
			w.off += int64(k)
		}
		p = p[k:]
	}
	return n, nil
}

// writeSparse writes a file of dir with write, sparsely.
func writeSparse(t *testing.T, path string, write func(io.Writer) error) int64 {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := &sparseWriter{f: f}
	if err := write(w); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(w.off); err != nil {
		t.Fatal(err)
	}
	return w.off
}

// bigFiles are the test's big checkpoints, made once: the official layout
// as a PyTorch zip and as safetensors, and a GGUF of its tensors.
var bigFiles = sync.OnceValues(func() (map[string]string, error) {
	dir, err := os.MkdirTemp(testBinDir, "big")
	if err != nil {
		return nil, err
	}
	ts := bigOfficialTensors()
	out := map[string]string{}
	write := func(name string, w func(io.Writer) error) error {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		defer f.Close()
		sw := &sparseWriter{f: f}
		if err := w(sw); err != nil {
			return err
		}
		out[name] = f.Name()
		return f.Truncate(sw.off)
	}
	if err := write("glip_tiny.pth", func(w io.Writer) error { return pth.Write(w, ts, pth.WriteOptions{Container: "model"}) }); err != nil {
		return nil, err
	}
	if err := write("glip_tiny.safetensors", func(w io.Writer) error { return safetensors.Write(w, ts, map[string]string{"format": "pt"}) }); err != nil {
		return nil, err
	}
	gts := make([]*ckpt.Tensor, len(ts))
	for i, x := range ts { // GGUF names are at most 63 bytes
		c := *x
		c.Name = fmt.Sprintf("t.%d.%s", i, x.Name[max(0, len(x.Name)-40):])
		gts[i] = &c
	}
	if err := write("glip_tiny.gguf", func(w io.Writer) error {
		return gguf.Write(w, []gguf.KV{{Key: "general.architecture", Value: gguf.String("swin")}}, gts, gguf.WriteOptions{})
	}); err != nil {
		return nil, err
	}
	return out, nil
})

// countingServer serves dir's files (Range included, as net/http does)
// and counts the body bytes it sends.
type countingServer struct {
	*httptest.Server
	sent, requests atomic.Int64
}

type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (w countingWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.n.Add(int64(n))
	return n, err
}

func newCountingServer(t *testing.T, dir string, h http.Handler) *countingServer {
	s := &countingServer{}
	if h == nil {
		h = http.FileServer(http.Dir(dir))
	}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		h.ServeHTTP(countingWriter{w, &s.sent}, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func bigFile(t *testing.T, name string) string {
	t.Helper()
	files, err := bigFiles()
	if err != nil {
		t.Fatal(err)
	}
	return files[name]
}

// TestInspectURLFetchesOnlyTheHeader inspects the ~760 MB checkpoints over
// HTTP and counts the bytes the server sent: a few hundred KB to a few MB,
// and the report is the one inspect gives for the local file.
func TestInspectURLFetchesOnlyTheHeader(t *testing.T) {
	for _, tc := range []struct {
		name  string
		limit int64
	}{
		{"glip_tiny.pth", 4 << 20},
		{"glip_tiny.safetensors", 1 << 20},
		{"glip_tiny.gguf", 1 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			local := bigFile(t, tc.name)
			st, err := os.Stat(local)
			if err != nil {
				t.Fatal(err)
			}
			if tc.name == "glip_tiny.pth" && st.Size() < 700<<20 {
				t.Fatalf("the big checkpoint has %d bytes, want about 760 MB", st.Size())
			}
			srv := newCountingServer(t, filepath.Dir(local), nil)
			url := srv.URL + "/" + tc.name
			code, got, stderr := runCmd(t, "inspect", "--format", "json", url)
			if code != 0 {
				t.Fatalf("inspect %s: exit %d: %s", url, code, stderr)
			}
			sent, reqs := srv.sent.Load(), srv.requests.Load()
			t.Logf("%s: %d of %d bytes sent in %d requests", tc.name, sent, st.Size(), reqs)
			if sent > tc.limit {
				t.Errorf("inspect of a %d-byte file fetched %d bytes, want at most %d", st.Size(), sent, tc.limit)
			}
			code, want, stderr := runCmd(t, "inspect", "--format", "json", local)
			if code != 0 {
				t.Fatalf("inspect %s: exit %d: %s", local, code, stderr)
			}
			if sameInspect(t, got, url, want, local) {
				var rep struct{ Tensors []any }
				json.Unmarshal([]byte(got), &rep)
				if len(rep.Tensors) < 400 {
					t.Errorf("%d tensors, want the ~500 of the layout", len(rep.Tensors))
				}
			}
		})
	}
}

// sameInspect compares two inspect JSON reports but for their file names.
func sameInspect(t *testing.T, got, gotName, want, wantName string) bool {
	t.Helper()
	var g, w map[string]any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("%v: %s", err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("%v: %s", err, want)
	}
	if g["file"] != gotName || w["file"] != wantName {
		t.Errorf("file names %v and %v, want %s and %s", g["file"], w["file"], gotName, wantName)
	}
	delete(g, "file")
	delete(w, "file")
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if !bytes.Equal(gb, wb) {
		t.Errorf("remote and local inspect differ:\nremote %.400s\nlocal  %.400s", gb, wb)
		return false
	}
	return true
}

// TestInspectURLStatsFetchesOnlyItsTensors: --stats with --filter fetches
// the tensors reported (here the 12 qkv weights of the backbone) and little
// else.
func TestInspectURLStatsFetchesOnlyItsTensors(t *testing.T) {
	local := bigFile(t, "glip_tiny.pth")
	srv := newCountingServer(t, filepath.Dir(local), nil)
	url := srv.URL + "/glip_tiny.pth"
	code, out, stderr := runCmd(t, "inspect", "--format", "json", "--stats", "--filter", `body\.layers\.\d+\.blocks\.\d+\.attn\.qkv\.weight$`, url)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep struct {
		Tensors []struct {
			Bytes int64 `json:"bytes"`
			Stats struct {
				Zeros int64 `json:"zeros"`
			} `json:"stats"`
			Numel int64 `json:"numel"`
		} `json:"tensors"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	var tensorBytes int64
	for _, x := range rep.Tensors {
		tensorBytes += x.Bytes
		if x.Stats.Zeros != x.Numel {
			t.Errorf("stats count %d zeros of %d elements, all are zero", x.Stats.Zeros, x.Numel)
		}
	}
	if len(rep.Tensors) != 12 {
		t.Fatalf("%d tensors reported, want the 12 qkv weights", len(rep.Tensors))
	}
	sent := srv.sent.Load()
	t.Logf("--stats of %d bytes of tensors: %d bytes sent in %d requests", tensorBytes, sent, srv.requests.Load())
	if sent < tensorBytes || sent > tensorBytes+(4<<20) {
		t.Errorf("sent %d bytes for %d bytes of tensors, want those and at most 4 MiB more", sent, tensorBytes)
	}
}

// TestInspectURLWithoutRange: a server that ignores Range is a one-line
// error naming the URL and --download, after sending (almost) nothing;
// with --download the file lands in the cache and is inspected there.
func TestInspectURLWithoutRange(t *testing.T) {
	dir := t.TempDir()
	data, err := os.ReadFile(fixture("official_small.pth"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "small.pth"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	noRange := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
		w.Header().Set("ETag", `"v1"`)
		w.Write(data)
	})
	srv := newCountingServer(t, dir, noRange)
	url := srv.URL + "/small.pth"
	code, _, stderr := runCmd(t, "inspect", url)
	if code != exitError || !strings.Contains(stderr, "does not answer Range requests") || !strings.Contains(stderr, "--download") || strings.Count(stderr, "\n") != 1 {
		t.Fatalf("exit %d, stderr %q: want exit 1 and one line on Range and --download", code, stderr)
	}
	cache := t.TempDir()
	code, out, stderr := runCmd(t, "inspect", "--format", "json", "--download", "--cache-dir", cache, url)
	if code != 0 {
		t.Fatalf("--download: exit %d: %s", code, stderr)
	}
	code, want, _ := runCmd(t, "inspect", "--format", "json", fixture("official_small.pth"))
	if code != 0 {
		t.Fatal(code)
	}
	var g, w map[string]any
	json.Unmarshal([]byte(out), &g)
	json.Unmarshal([]byte(want), &w)
	if fmt.Sprint(g["tensors"]) != fmt.Sprint(w["tensors"]) {
		t.Errorf("inspect after --download differs from the local file's")
	}
	file, _ := g["file"].(string)
	if !strings.HasPrefix(file, filepath.Join(cache, "urls")) {
		t.Errorf("inspected %s, want a file under %s/urls", file, cache)
	}
	// Offline, the cached copy serves.
	srv.Close()
	if code, _, stderr := runCmd(t, "inspect", "--download", "--offline", "--cache-dir", cache, url); code != 0 {
		t.Errorf("offline reuse: exit %d: %s", code, stderr)
	}
}

// TestInspectURLStallTimeout: a server that stops answering after the
// first request is an error within --timeout, not a hang.
func TestInspectURLStallTimeout(t *testing.T) {
	data, err := os.ReadFile(fixture("official_small.pth"))
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int32
	release := make(chan struct{})
	defer close(release)
	srv := newCountingServer(t, "", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) > 1 {
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
	}))
	start := time.Now()
	code, _, stderr := runCmd(t, "inspect", "--timeout", "500ms", srv.URL+"/small.pth")
	if code != exitError || !strings.Contains(stderr, "--timeout") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("exit %d, stderr %q: want one line on the time limit", code, stderr)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}

// TestInspectURLHostileServer: the big checkpoint served correctly for the
// first requests, then wrongly: each is a one-line error naming the URL,
// exit 1, within seconds, nothing on stdout.
func TestInspectURLHostileServer(t *testing.T) {
	local := bigFile(t, "glip_tiny.pth")
	f, err := os.Open(local)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	size := st.Size()
	for _, tc := range []struct {
		name, want string
		bend       func(w http.ResponseWriter, body []byte, start, end int64)
	}{
		{"truncated", "truncated response", func(w http.ResponseWriter, b []byte, s, e int64) {
			w.Header().Set("Content-Length", fmt.Sprint(len(b)))
			w.WriteHeader(206)
			w.Write(b[:len(b)/2])
		}},
		{"lying Content-Length", "Content-Length", func(w http.ResponseWriter, b []byte, s, e int64) {
			w.Header().Set("Content-Length", fmt.Sprint(2*len(b)))
			w.WriteHeader(206)
			w.Write(b)
		}},
		{"lying Content-Range", "size changed", func(w http.ResponseWriter, b []byte, s, e int64) {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", s, e, 1<<50))
			w.WriteHeader(206)
			w.Write(b)
		}},
		{"stops doing ranges", "does not answer Range", func(w http.ResponseWriter, b []byte, s, e int64) {
			w.Header().Del("Content-Range")
			w.Header().Set("Content-Length", fmt.Sprint(size))
			w.WriteHeader(200)
			w.Write(b)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var n atomic.Int32
			srv := newCountingServer(t, "", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var start, end int64
				if _, err := fmt.Sscanf(r.Header.Get("Range"), "bytes=%d-%d", &start, &end); err != nil {
					http.Error(w, "range please", 400)
					return
				}
				end = min(end, size-1)
				body := make([]byte, end-start+1)
				f.ReadAt(body, start)
				w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end, size))
				if n.Add(1) < 3 {
					w.Header().Set("Content-Length", fmt.Sprint(len(body)))
					w.WriteHeader(206)
					w.Write(body)
					return
				}
				tc.bend(w, body, start, end)
			}))
			url := srv.URL + "/glip_tiny.pth"
			start := time.Now()
			code, out, stderr := runCmd(t, "inspect", url)
			t.Logf("%s", stderr)
			if code != exitError || out != "" || !strings.Contains(stderr, tc.want) || !strings.Contains(stderr, url) || strings.Count(stderr, "\n") != 1 || len(stderr) > 300 {
				t.Errorf("exit %d, stdout %d bytes, stderr %q: want exit 1 and one line on %q naming the URL", code, len(out), stderr, tc.want)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
}

// TestInspectURLFixtures: every committed checkpoint fixture (zip and
// legacy PyTorch, hostile pickles, views, unsupported tensors) and the
// forward fixtures' safetensors inspect over HTTP, --stats included, as
// they do from the disk.
func TestInspectURLFixtures(t *testing.T) {
	srv := newCountingServer(t, td, nil)
	for _, name := range []string{"official_small.pth", "official_small_legacy.pth", "mmpretrain_small.pth", "official_small_f16.pth",
		"hostile.pth", "views.pth", "unsupported.pth", "unsupported_legacy.pth", "forward/tiny_mm.safetensors"} {
		url := srv.URL + "/" + name
		code, got, stderr := runCmd(t, "inspect", "--format", "json", "--stats", url)
		wcode, want, wstderr := runCmd(t, "inspect", "--format", "json", "--stats", fixture(name))
		if code != wcode {
			t.Errorf("%s: exit %d over HTTP (%s), %d from the disk (%s)", name, code, stderr, wcode, wstderr)
			continue
		}
		if code == 0 {
			sameInspect(t, got, url, want, fixture(name))
		}
		if strings.ReplaceAll(stderr, url, "F") != strings.ReplaceAll(wstderr, fixture(name), "F") {
			t.Errorf("%s: stderr over HTTP %q, from the disk %q", name, stderr, wstderr)
		}
	}
}
