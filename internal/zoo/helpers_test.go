package zoo

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/glipctl/glipctl/internal/swin"
)

// TestMain doubles as a helper process for the tests that need several
// processes (see helperMain).
func TestMain(m *testing.M) {
	if os.Getenv("GLIPCTL_ZOO_HELPER") != "" {
		os.Exit(helperMain())
	}
	os.Exit(m.Run())
}

// helperMain fetches the one model of a registry built from the
// environment (GLIPCTL_ZOO_HELPER_URL, GLIPCTL_ZOO_HELPER_SHA) into
// $GLIPCTL_CACHE, logs to stderr and prints the path.
func helperMain() int {
	reg, err := NewRegistry([]Entry{testEntry(os.Getenv("GLIPCTL_ZOO_HELPER_URL"), os.Getenv("GLIPCTL_ZOO_HELPER_SHA"), "")})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	opts := ResolveOptions{
		CacheDir:   os.Getenv("GLIPCTL_CACHE"),
		Registry:   reg,
		Log:        os.Stderr,
		Downloader: &Downloader{Retries: 2, Backoff: time.Millisecond, StallTimeout: 20 * time.Second, MinRate: -1},
	}
	p, err := Resolve(context.Background(), "swin-t_glip-pre_3rdparty", opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		return 1
	}
	fmt.Println(p)
	return 0
}

// testData returns n deterministic pseudo-random bytes.
func testData(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// testEntry is an entry with the architecture of the small fixtures
// (smallArch) whose weights are at weightsURL with hash prefix wsha, and
// whose official file is at base+"/a/official.pth" and
// base+"/b/official.pth" (if base is not empty).
func testEntry(weightsURL, wsha, base string) Entry {
	e := Entry{
		Name:       "swin-t_glip-pre_3rdparty",
		Display:    "Swin-T",
		Arch:       smallArch,
		ImgSize:    224,
		OutIndices: []int{1, 2, 3},
		Weights:    File{Name: "w.pth", URLs: []string{weightsURL}, SHA256: wsha},
	}
	if base != "" {
		e.Official = File{Name: "official.pth", URLs: []string{base + "/a/official.pth", base + "/b/official.pth"}}
	}
	return e
}

func testRegistry(t *testing.T, entries ...Entry) *Registry {
	t.Helper()
	r, err := NewRegistry(entries)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// isolate returns fresh temp dirs for the cache and torch hub's cache. It
// also points the environment variables the helper process reads at them
// (the package itself reads none).
func isolate(t *testing.T) (cacheDir, hubDir string) {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("GLIPCTL_CACHE", dir+"/cache")
	return dir + "/cache", dir + "/torch/hub/checkpoints"
}

// smallArch is the architecture of testdata/official_small.pth (made by
// torch, scripts/fixtures/make_fixtures.py).
var smallArch = swin.Arch{EmbedDim: 8, Depths: []int{2, 2, 2, 2}, Heads: []int{1, 2, 4, 8}, Window: 7, PatchSize: 4, InChans: 3, MLPRatio: 4}

// fixture returns the bytes of a committed checkpoint in testdata/.
func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// recorder records the requests a test server receives.
type recorder struct {
	mu     sync.Mutex
	ranges []string // Range header of each request ("" for none)
	paths  []string
	hosts  []string
	times  []time.Time
}

func (r *recorder) add(req *http.Request) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ranges = append(r.ranges, req.Header.Get("Range"))
	r.paths = append(r.paths, req.URL.Path)
	r.hosts = append(r.hosts, req.Host)
	r.times = append(r.times, time.Now())
	return len(r.ranges) - 1
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ranges)
}

func (r *recorder) pathList() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.paths...)
}

func (r *recorder) timeList() []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Time(nil), r.times...)
}

func (r *recorder) rangeHeaders() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.ranges...)
}

// serve answers with data, honouring Range (http.ServeContent's
// implementation, not ours).
func serve(w http.ResponseWriter, r *http.Request, data []byte) {
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
}

// requestedOffset parses a "bytes=N-" Range header (0 if none).
func requestedOffset(t *testing.T, r *http.Request) int {
	h := r.Header.Get("Range")
	if h == "" {
		return 0
	}
	var off int
	if _, err := fmt.Sscanf(h, "bytes=%d-", &off); err != nil {
		t.Errorf("unexpected Range %q", h)
	}
	return off
}

// cutResponse answers the request for data from the requested offset, but
// hijacks the connection and closes it after the byte at offset end.
func cutResponse(t *testing.T, w http.ResponseWriter, r *http.Request, data []byte, end int) {
	cutResponseWith(t, w, r, data, end, "")
}

// cutResponseWith is cutResponse with extra header lines (each ending in
// "\r\n") in the response.
func cutResponseWith(t *testing.T, w http.ResponseWriter, r *http.Request, data []byte, end int, header string) {
	off := requestedOffset(t, r)
	conn, bw, err := w.(http.Hijacker).Hijack()
	if err != nil {
		t.Error(err)
		return
	}
	defer conn.Close()
	if r.Header.Get("Range") != "" {
		fmt.Fprintf(bw, "HTTP/1.1 206 Partial Content\r\n%sContent-Range: bytes %d-%d/%d\r\nContent-Length: %d\r\n\r\n", header, off, len(data)-1, len(data), len(data)-off)
	} else {
		fmt.Fprintf(bw, "HTTP/1.1 200 OK\r\n%sContent-Length: %d\r\n\r\n", header, len(data))
	}
	if end > off {
		bw.Write(data[off:end])
	}
	bw.Flush()
}

func newServer(t *testing.T, h http.HandlerFunc) *httptest.Server {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// signalWriter is a Log writer that closes a channel when a line
// containing want is written.
type signalWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want string
	once sync.Once
	ch   chan struct{}
}

func newSignalWriter(want string) *signalWriter {
	return &signalWriter{want: want, ch: make(chan struct{})}
}

func (s *signalWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf.Write(p)
	if strings.Contains(s.buf.String(), s.want) {
		s.once.Do(func() { close(s.ch) })
	}
	return len(p), nil
}

func (s *signalWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// waitLine reads lines from sc until one contains want; it fails the test
// after timeout.
func waitLine(t *testing.T, sc *bufio.Scanner, want string, timeout time.Duration) []string {
	t.Helper()
	lines := make(chan []string, 1)
	go func() {
		var got []string
		for sc.Scan() {
			got = append(got, sc.Text())
			if strings.Contains(sc.Text(), want) {
				lines <- got
				// Drain the rest so the process never blocks on stderr.
				for sc.Scan() {
				}
				return
			}
		}
		lines <- nil
	}()
	select {
	case got := <-lines:
		if got == nil {
			t.Fatalf("stream ended without a line containing %q", want)
		}
		return got
	case <-time.After(timeout):
		t.Fatalf("no line containing %q after %v", want, timeout)
	}
	return nil
}

func fastDownloader() *Downloader {
	return &Downloader{Retries: 3, Backoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, StallTimeout: 5 * time.Second}
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustNotExist(t *testing.T, p string) {
	t.Helper()
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Errorf("%s exists (err %v), want it absent", p, err)
	}
}
