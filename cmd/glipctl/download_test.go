package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/glipctl/glipctl/internal/cli"
	"github.com/glipctl/glipctl/internal/ghactions"
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
	io, out, errOut := testStreams()
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
	io, out, errOut = testStreams()
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
	io, out, _ := testStreams()
	err := downloadRun(testDownloadOptions(io, reg, "swin-t_glip-pre_3rdparty"))
	if testExitCode(err) != exitError || !strings.Contains(err.Error(), "0123abcd") || !strings.Contains(err.Error(), dlSHA256(data)) {
		t.Fatalf("err = %v (exit %d)", err, testExitCode(err))
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
		io, out, errOut := testStreams()
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
		io, _, _ := testStreams()
		o := testDownloadOptions(io, reg, "swin-t_glip-pre_3rdparty")
		c.mod(o)
		err := downloadRun(o)
		if testExitCode(err) != exitUsage || !strings.Contains(err.Error(), c.want) {
			t.Errorf("err = %v (exit %d), want a usage error mentioning %q", err, testExitCode(err), c.want)
		}
	}
}

func TestDownloadOffline(t *testing.T) {
	zooTestEnv(t)
	reg := testZooRegistry(t, "http://127.0.0.1:1", "00000000")
	io, _, _ := testStreams()
	o := testDownloadOptions(io, reg, "swin-t_glip-pre_3rdparty")
	o.Zoo.Offline = true
	err := downloadRun(o)
	if testExitCode(err) != exitError || !strings.Contains(err.Error(), "offline") || !strings.Contains(err.Error(), "w.pth") {
		t.Errorf("err = %v", err)
	}
}

func TestDownloadFlags(t *testing.T) {
	io, _, _ := testStreams()
	var got *downloadOptions
	cmd := newDownloadCmd(io, func(o *downloadOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"--dir", "/d", "--official", "--mirror", "http://m", "--offline", "--sha256", "abcdef12", "--timeout", "90s", "-q", "swin-t_glip-pre_3rdparty"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got.Name != "swin-t_glip-pre_3rdparty" || !got.Official || !got.Quiet || got.Zoo.CacheDir != "/d" ||
		got.Zoo.Mirror != "http://m" || !got.Zoo.Offline || got.Zoo.Base.SHA256 != "abcdef12" || got.Zoo.Timeout != 90*time.Second {
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
	io, out, _ := testStreams()
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

// The child process of the signal tests: this test binary, re-executed
// with GLIPCTL_TEST_DOWNLOAD_CHILD set, runs the download command under a
// root context cancelled by SIGINT and SIGTERM, as main does, with a
// registry whose official file is at $GLIPCTL_TEST_BASE/o.pth.
func init() {
	if os.Getenv("GLIPCTL_TEST_DOWNLOAD_CHILD") == "" {
		return
	}
	os.Exit(downloadChild(strings.Fields(os.Getenv("GLIPCTL_TEST_ARGS"))))
}

func downloadChild(args []string) int {
	base := os.Getenv("GLIPCTL_TEST_BASE")
	reg, err := zoo.NewRegistry([]zoo.Entry{{
		Name: "swin-t_glip-pre_3rdparty", Display: "Swin-T",
		Arch:       swin.Arch{EmbedDim: 8, Depths: []int{2, 2, 2, 2}, Heads: []int{1, 2, 4, 8}, Window: 7, PatchSize: 4, InChans: 3, MLPRatio: 4},
		OutIndices: []int{1, 2, 3},
		Weights:    zoo.File{Name: "w.pth", URLs: []string{base + "/w.pth"}, SHA256: "00000000"},
		Official:   zoo.File{Name: "o.pth", URLs: []string{base + "/o.pth"}},
	}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return exitError
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	io := defaultStreams()
	cmd := newDownloadCmd(io, func(o *downloadOptions) error {
		o.Zoo.Base.Registry = reg
		return downloadRun(o)
	})
	cmd.SetArgs(args)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	if err := cmd.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(io.ErrOut, "glipctl: %s\n", oneLine(err.Error()))
		return testExitCode(err)
	}
	return exitOK
}

// slowWriter sends a response 8 KiB at a time, 10 ms apart, counting the
// bytes sent.
type slowWriter struct {
	http.ResponseWriter
	sent *atomic.Int64
}

func (s slowWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		k := min(8192, len(p))
		m, err := s.ResponseWriter.Write(p[:k])
		n += m
		s.sent.Add(int64(m))
		if err != nil {
			return n, err
		}
		s.ResponseWriter.(http.Flusher).Flush()
		time.Sleep(10 * time.Millisecond)
		p = p[k:]
	}
	return n, nil
}

// TestDownloadSignalThenResume sends a real SIGINT (and, separately, a
// SIGTERM and a SIGKILL) to a child process in the middle of a download of
// a hash-less file. SIGINT and SIGTERM: exit 1, "interrupted (run it again
// to resume)", the .part and its validator kept. Then the same command
// again resumes (Range with If-Range) and completes with exactly the
// server's file.
func TestDownloadSignalThenResume(t *testing.T) {
	data, err := os.ReadFile(fixture("official_small.pth"))
	if err != nil {
		t.Fatal(err)
	}
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			var sent atomic.Int64
			var slow atomic.Bool
			slow.Store(true)
			var mu sync.Mutex
			var ranges, ifRanges []string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				ranges = append(ranges, r.Header.Get("Range"))
				ifRanges = append(ifRanges, r.Header.Get("If-Range"))
				mu.Unlock()
				w.Header().Set("ETag", `"x1"`)
				var rw http.ResponseWriter = w
				if slow.Load() {
					rw = slowWriter{w, &sent}
				}
				http.ServeContent(rw, r, "", time.Time{}, bytes.NewReader(data))
			}))
			defer srv.Close()
			cache := t.TempDir()
			child := func() *exec.Cmd {
				c := exec.Command(os.Args[0], "-test.run=^$")
				c.Env = append(os.Environ(), "GLIPCTL_TEST_DOWNLOAD_CHILD=1", "GLIPCTL_TEST_BASE="+srv.URL,
					"GLIPCTL_TEST_ARGS=--official --dir "+cache+" swin-t_glip-pre_3rdparty")
				return c
			}
			c := child()
			var stderr bytes.Buffer
			c.Stderr = &stderr
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for sent.Load() < 200_000 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			if sent.Load() < 200_000 {
				c.Process.Kill()
				t.Fatalf("the child did not download; stderr %s", stderr.String())
			}
			start := time.Now()
			if err := c.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			err := c.Wait()
			if el := time.Since(start); el > 5*time.Second {
				t.Errorf("the child took %v to stop", el)
			}
			code := c.ProcessState.ExitCode()
			if sig == syscall.SIGKILL {
				if code != -1 {
					t.Errorf("SIGKILL: exit %d, %v", code, err)
				}
			} else if code != exitError || !strings.Contains(stderr.String(), "download swin-t_glip-pre_3rdparty: interrupted (run it again to resume)") {
				t.Errorf("exit %d, stderr %q", code, stderr.String())
			}
			part := filepath.Join(cache, "o.pth.part")
			st, err := os.Stat(part)
			if err != nil || st.Size() == 0 || st.Size() >= int64(len(data)) {
				t.Fatalf("partial file after %v: %v, %v", sig, st, err)
			}
			if _, err := os.Stat(part + ".meta"); err != nil {
				t.Errorf("validator sidecar: %v", err)
			}
			if _, err := os.Stat(filepath.Join(cache, "o.pth")); !os.IsNotExist(err) {
				t.Errorf("final file exists after %v", sig)
			}
			// Resume.
			slow.Store(false)
			c = child()
			var stdout bytes.Buffer
			stderr.Reset()
			c.Stdout, c.Stderr = &stdout, &stderr
			if err := c.Run(); err != nil {
				t.Fatalf("resume: %v; stderr %s", err, stderr.String())
			}
			got, err := os.ReadFile(filepath.Join(cache, "o.pth"))
			if err != nil || !bytes.Equal(got, data) || stdout.String() != filepath.Join(cache, "o.pth")+"\n" {
				t.Fatalf("resumed file differs (%v) or stdout %q", err, stdout.String())
			}
			mu.Lock()
			defer mu.Unlock()
			if len(ranges) != 2 || ranges[1] != fmt.Sprintf("bytes=%d-", st.Size()) || ifRanges[1] != `"x1"` {
				t.Errorf("requests: Range %q If-Range %q, want a resume from %d with If-Range", ranges, ifRanges, st.Size())
			}
		})
	}
}

// TestDownloadErrorLine: every mirror fails; the error is one line of at
// most 200 characters naming the file and each mirror's problem by host,
// not each mirror's full URL.
func TestDownloadErrorLine(t *testing.T) {
	zooTestEnv(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/blob/") {
			http.Error(w, "Public access is not permitted on this storage account.", http.StatusConflict)
			return
		}
		http.NotFound(w, r)
	}))
	defer srv.Close()
	reg, err := zoo.NewRegistry([]zoo.Entry{{
		Name: "swin-t_glip-pre_3rdparty", Display: "Swin-T",
		Arch:     swin.Arch{EmbedDim: 8, Depths: []int{2, 2, 2, 2}, Heads: []int{1, 2, 4, 8}, Window: 7, PatchSize: 4, InChans: 3, MLPRatio: 4},
		Weights:  zoo.File{Name: "w.pth", URLs: []string{srv.URL + "/w.pth"}, SHA256: "00000000"},
		Official: zoo.File{Name: "glip_tiny_model_o365_goldg_cc_sbu.pth", URLs: []string{srv.URL + "/GLIPModel/GLIP/resolve/main/glip_tiny_model_o365_goldg_cc_sbu.pth", srv.URL + "/blob/data/GLIPv1_Open/models/glip_tiny_model_o365_goldg_cc_sbu.pth"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	io := &IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}
	err = downloadRun(testDownloadOptions(io, reg, "official:swin-t_glip-pre_3rdparty"))
	host := strings.TrimPrefix(srv.URL, "http://")
	want := "download glip_tiny_model_o365_goldg_cc_sbu.pth: " + host + ": 404 Not Found; " + host + ": 409 Conflict"
	if testExitCode(err) != exitError || err.Error() != want || len(err.Error()) > 200 {
		t.Errorf("error %q (%d chars), want %q", err, len(err.Error()), want)
	}
}

// TestDownloadActionsOutputs: in GitHub Actions, download writes path= and
// sha256= to $GITHUB_OUTPUT; elsewhere nothing.
func TestDownloadActionsOutputs(t *testing.T) {
	cache := zooTestEnv(t)
	data := dlRandomBytes(50_000, 3)
	srv, _ := zooServer(t, data, nil)
	reg := testZooRegistry(t, srv.URL, dlSHA256(data)[:8])
	io, _, _ := testStreams()
	outFile := filepath.Join(t.TempDir(), "output")
	io.Actions = &ghactions.Env{Output: outFile}
	if err := downloadRun(testDownloadOptions(io, reg, "swin-t_glip-pre_3rdparty")); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(outFile)
	want := "path=" + filepath.Join(cache, "w.pth") + "\nsha256=" + dlSHA256(data) + "\n"
	if string(got) != want {
		t.Errorf("GITHUB_OUTPUT %q, want %q", got, want)
	}
}
