package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/glipctl/glipctl/internal/cli"
	"github.com/glipctl/glipctl/internal/swin"
	"github.com/glipctl/glipctl/internal/zoo"
)

// zooTestEnv points every cache at temp dirs and clears the environment
// the zoo reads; it returns the cache dir.
func zooTestEnv(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("GLIPCTL_CACHE", filepath.Join(dir, "cache"))
	t.Setenv("TORCH_HOME", filepath.Join(dir, "torch"))
	t.Setenv("XDG_CACHE_HOME", filepath.Join(dir, "xdg"))
	t.Setenv("GLIPCTL_OFFLINE", "")
	t.Setenv("GLIPCTL_MIRROR", "")
	return filepath.Join(dir, "cache")
}

func dlRandomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func dlSHA256(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// zooServer serves weights at /w.pth and the official file at /o.pth and
// counts requests.
func zooServer(t *testing.T, weights, official []byte) (*httptest.Server, *atomic.Int32) {
	n := new(atomic.Int32)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		switch r.URL.Path {
		case "/w.pth":
			http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(weights))
		case "/o.pth":
			http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(official))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, n
}

func testZooRegistry(t *testing.T, base, wsha string) *zoo.Registry {
	t.Helper()
	r, err := zoo.NewRegistry([]zoo.Entry{{
		Name:       "swin-t_glip-pre_3rdparty",
		Display:    "Swin-T",
		Arch:       swin.Arch{EmbedDim: 8, Depths: []int{2, 2, 2, 2}, Heads: []int{1, 2, 4, 8}, Window: 7, PatchSize: 4, InChans: 3, MLPRatio: 4}, // testdata/official_small.pth
		ImgSize:    224,
		OutIndices: []int{1, 2, 3},
		Weights:    zoo.File{Name: "w.pth", URLs: []string{base + "/w.pth"}, SHA256: wsha},
		Official:   zoo.File{Name: "o.pth", URLs: []string{base + "/o.pth"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func dlStreams() (*IOStreams, *bytes.Buffer, *bytes.Buffer) {
	var out, errOut bytes.Buffer
	return &IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}, &out, &errOut
}

// dlExitCode maps err to the exit code run would return.
func dlExitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ee *exitErr
	if errors.As(err, &ee) {
		return ee.code
	}
	return exitError
}

func testDownloadOptions(io *IOStreams, reg *zoo.Registry, name string) *downloadOptions {
	return &downloadOptions{IO: io, Name: name, Zoo: cli.Zoo{Base: zoo.ResolveOptions{
		Registry:   reg,
		Downloader: &zoo.Downloader{Retries: 1, Backoff: time.Millisecond, StallTimeout: 5 * time.Second},
	}}}
}

func TestDownloadPrintsPath(t *testing.T) {
	cache := zooTestEnv(t)
	data := dlRandomBytes(100_000, 1)
	srv, n := zooServer(t, data, nil)
	reg := testZooRegistry(t, srv.URL, dlSHA256(data)[:8])
	io, out, errOut := dlStreams()
	if err := downloadRun(testDownloadOptions(io, reg, "swin-t_glip-pre_3rdparty")); err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(cache, "w.pth")
	if out.String() != want+"\n" {
		t.Fatalf("stdout %q, want the path", out.String())
	}
	if got, _ := os.ReadFile(want); !bytes.Equal(got, data) {
		t.Fatal("file content differs")
	}
	if !strings.Contains(errOut.String(), "downloading w.pth from "+srv.URL+"/w.pth") || !strings.Contains(errOut.String(), "w.pth: 97.7 KiB done") {
		t.Errorf("stderr %q", errOut.String())
	}
	// Again, quietly, into --dir: nothing on stderr; cached: no request.
	io, out, errOut = dlStreams()
	opts := testDownloadOptions(io, reg, "swin-t_glip-pre_3rdparty")
	opts.Quiet = true
	if err := downloadRun(opts); err != nil || out.String() != want+"\n" || errOut.Len() != 0 || n.Load() != 1 {
		t.Fatalf("cached: %v, stdout %q, stderr %q, %d requests", err, out.String(), errOut.String(), n.Load())
	}
	dir := t.TempDir()
	opts.Zoo.CacheDir = dir
	io.Out.(*bytes.Buffer).Reset()
	if err := downloadRun(opts); err != nil || out.String() != filepath.Join(dir, "w.pth")+"\n" {
		t.Fatalf("--dir: %v, stdout %q", err, out.String())
	}
}

func TestDownloadWrongHashExit1(t *testing.T) {
	cache := zooTestEnv(t)
	data := dlRandomBytes(10_000, 2)
	srv, _ := zooServer(t, data, nil)
	reg := testZooRegistry(t, srv.URL, "0123abcd")
	io, out, _ := dlStreams()
	err := downloadRun(testDownloadOptions(io, reg, "swin-t_glip-pre_3rdparty"))
	if dlExitCode(err) != exitError || !strings.Contains(err.Error(), "0123abcd") || !strings.Contains(err.Error(), dlSHA256(data)) {
		t.Fatalf("err = %v (exit %d)", err, dlExitCode(err))
	}
	if out.Len() != 0 {
		t.Errorf("stdout %q", out.String())
	}
	entries, _ := os.ReadDir(cache)
	for _, e := range entries {
		if e.Name() == "w.pth" || strings.HasSuffix(e.Name(), ".part") {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

func TestDownloadOfficialPrintsHash(t *testing.T) {
	cache := zooTestEnv(t)
	official, err := os.ReadFile(fixture("official_small.pth"))
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := zooServer(t, nil, official)
	reg := testZooRegistry(t, srv.URL, "00000000")
	for _, name := range []string{"official:swin-t_glip-pre_3rdparty", "swin-t_glip-pre_3rdparty"} {
		io, out, errOut := dlStreams()
		opts := testDownloadOptions(io, reg, name)
		opts.Official = !strings.HasPrefix(name, "official:")
		if err := downloadRun(opts); err != nil {
			t.Fatal(err)
		}
		if out.String() != filepath.Join(cache, "o.pth")+"\n" || !strings.Contains(errOut.String(), dlSHA256(official)) {
			t.Errorf("%s: stdout %q stderr %q", name, out.String(), errOut.String())
		}
	}
}

func TestDownloadUsageErrors(t *testing.T) {
	zooTestEnv(t)
	reg := testZooRegistry(t, "http://127.0.0.1:1", "00000000")
	for _, c := range []struct {
		mod  func(o *downloadOptions)
		want string
	}{
		{func(o *downloadOptions) { o.Name = "swin-b" }, "swin-t_glip-pre_3rdparty"},
		{func(o *downloadOptions) { o.Zoo.Base.SHA256 = "xyz" }, "sha256"},
		{func(o *downloadOptions) { o.Zoo.Mirror = "mirror.local" }, "mirror"},
	} {
		io, _, _ := dlStreams()
		o := testDownloadOptions(io, reg, "swin-t_glip-pre_3rdparty")
		c.mod(o)
		err := downloadRun(o)
		if dlExitCode(err) != exitUsage || !strings.Contains(err.Error(), c.want) {
			t.Errorf("err = %v (exit %d), want a usage error mentioning %q", err, dlExitCode(err), c.want)
		}
	}
}

func TestDownloadOffline(t *testing.T) {
	zooTestEnv(t)
	reg := testZooRegistry(t, "http://127.0.0.1:1", "00000000")
	io, _, _ := dlStreams()
	o := testDownloadOptions(io, reg, "swin-t_glip-pre_3rdparty")
	o.Zoo.Offline = true
	err := downloadRun(o)
	if dlExitCode(err) != exitError || !strings.Contains(err.Error(), "offline") || !strings.Contains(err.Error(), "w.pth") {
		t.Errorf("err = %v", err)
	}
}

func TestDownloadFlags(t *testing.T) {
	io, _, _ := dlStreams()
	var got *downloadOptions
	cmd := newDownloadCmd(io, func(o *downloadOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"--dir", "/d", "--official", "--mirror", "http://m", "--offline", "--sha256", "abcdef12", "-q", "swin-t_glip-pre_3rdparty"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got.Name != "swin-t_glip-pre_3rdparty" || !got.Official || !got.Quiet || got.Zoo.CacheDir != "/d" ||
		got.Zoo.Mirror != "http://m" || !got.Zoo.Offline || got.Zoo.Base.SHA256 != "abcdef12" {
		t.Errorf("options %+v", got)
	}
	cmd = newDownloadCmd(io, func(o *downloadOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"--cache-dir", "/c", "x"})
	if err := cmd.Execute(); err != nil || got.Zoo.CacheDir != "/c" {
		t.Errorf("--cache-dir: %v, %q", err, got.Zoo.CacheDir)
	}
	cmd = newDownloadCmd(io, func(o *downloadOptions) error { return nil })
	cmd.SetArgs([]string{})
	cmd.SetErr(&bytes.Buffer{})
	if err := cmd.Execute(); err == nil || !isCobraUsageError(err) {
		t.Errorf("no NAME: %v", err)
	}
}

// TestDownloadThenConvertDoesNotRehash: download records the sum it
// verified in the digest cache, so converting the fresh file takes the
// source's sha256 from there instead of reading the file again.
func TestDownloadThenConvertDoesNotRehash(t *testing.T) {
	zooTestEnv(t)
	data, err := os.ReadFile(fixture("official_small.pth"))
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := zooServer(t, data, nil)
	reg := testZooRegistry(t, srv.URL, dlSHA256(data)[:8])
	io, out, _ := dlStreams()
	opts := testDownloadOptions(io, reg, "swin-t_glip-pre_3rdparty")
	opts.Quiet = true
	if err := downloadRun(opts); err != nil {
		t.Fatal(err)
	}
	path := strings.TrimSpace(out.String())
	dst := filepath.Join(t.TempDir(), "out.pth")
	for _, c := range []struct {
		args []string
		want string
	}{{nil, "cache"}, {[]string{"--rehash"}, "computed"}} {
		args := append([]string{"convert", path, "-o", dst, "-q", "--force"}, c.args...)
		if code, _, errOut := runCmd(t, args...); code != exitOK {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
		var rep struct {
			Source struct {
				SHA256       string `json:"sha256"`
				SHA256Source string `json:"sha256_source"`
			} `json:"source"`
		}
		b, err := os.ReadFile(dst + ".report.json")
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &rep); err != nil {
			t.Fatal(err)
		}
		if rep.Source.SHA256 != dlSHA256(data) || rep.Source.SHA256Source != c.want {
			t.Errorf("%v: source %+v, want sha256 %s from %q", c.args, rep.Source, dlSHA256(data), c.want)
		}
	}
}
