package zoo

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

const tname = "swin-t_glip-pre_3rdparty"

func TestResolveDownloadsOnceThenCaches(t *testing.T) {
	cacheDir, hubDir := isolate(t)
	data := testData(200_000, 20)
	var rec recorder
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		rec.add(r)
		serve(w, r, data)
	})
	opts := ResolveOptions{CacheDir: cacheDir, TorchHubDir: hubDir, Registry: testRegistry(t, testEntry(srv.URL+"/w/w.pth", sha(data)[:8], "")), Downloader: fastDownloader()}
	var log bytes.Buffer
	opts.Log = &log
	p, err := Resolve(context.Background(), tname, opts)
	if err != nil {
		t.Fatal(err)
	}
	if p != filepath.Join(cacheDir, "w.pth") || !bytes.Equal(readFile(t, p), data) {
		t.Fatalf("path %q or content wrong", p)
	}
	mustNotExist(t, p+".part")
	// The manifest records the full hash.
	var m manifest
	if err := json.Unmarshal(readFile(t, filepath.Join(cacheDir, manifestName)), &m); err != nil {
		t.Fatal(err)
	}
	if m.Files["w.pth"].SHA256 != sha(data) || m.Files["w.pth"].Size != int64(len(data)) || m.Files["w.pth"].URL != srv.URL+"/w/w.pth" {
		t.Errorf("manifest %+v", m)
	}
	if got := opts.RecordedSHA256(p); got != sha(data) {
		t.Errorf("RecordedSHA256 = %q", got)
	}
	// The verified sum is in the digest cache too, so converting the file
	// does not read it again, fresh as it is.
	if d, err := opts.Digests().File(context.Background(), p); err != nil || !d.Cached || d.SHA256 != sha(data) {
		t.Errorf("digest cache after download: %+v, %v", d, err)
	}
	if got := opts.Digests().Dir; got != filepath.Join(cacheDir, "digests") {
		t.Errorf("digests dir %q", got)
	}
	// Second use: no request.
	p2, err := Resolve(context.Background(), tname, opts)
	if err != nil || p2 != p || rec.count() != 1 {
		t.Fatalf("second Resolve: %q, %v, %d requests", p2, err, rec.count())
	}
	if c, ok := opts.CachedPath(opts.Registry.Entries()[0], false); !ok || c != p {
		t.Errorf("CachedPath = %q, %v", c, ok)
	}
}

func TestResolveResumesPartFile(t *testing.T) {
	cacheDir, hubDir := isolate(t)
	data := testData(100_000, 21)
	var rec recorder
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		rec.add(r)
		serve(w, r, data)
	})
	os.MkdirAll(cacheDir, 0o755)
	os.WriteFile(filepath.Join(cacheDir, "w.pth.part"), data[:60_000], 0o644)
	opts := ResolveOptions{CacheDir: cacheDir, TorchHubDir: hubDir, Registry: testRegistry(t, testEntry(srv.URL+"/w.pth", sha(data)[:8], "")), Downloader: fastDownloader()}
	p, err := Resolve(context.Background(), tname, opts)
	if err != nil || !bytes.Equal(readFile(t, p), data) {
		t.Fatalf("%q, %v", p, err)
	}
	if got := rec.rangeHeaders(); !slices.Equal(got, []string{"bytes=60000-"}) {
		t.Errorf("Range headers %q", got)
	}
}

func TestResolveCutsThenVerified(t *testing.T) {
	cacheDir, hubDir := isolate(t)
	data := testData(300_000, 22)
	cuts := []int{10, 65_536, 150_001}
	var rec recorder
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if i := rec.add(r); i < len(cuts) {
			cutResponse(t, w, r, data, cuts[i])
			return
		}
		serve(w, r, data)
	})
	opts := ResolveOptions{CacheDir: cacheDir, TorchHubDir: hubDir, Registry: testRegistry(t, testEntry(srv.URL+"/w.pth", sha(data)[:8], "")), Downloader: fastDownloader()}
	p, err := Resolve(context.Background(), tname, opts)
	if err != nil || !bytes.Equal(readFile(t, p), data) {
		t.Fatalf("%q, %v", p, err)
	}
	if got := rec.rangeHeaders(); !slices.Equal(got, []string{"", "bytes=10-", "bytes=65536-", "bytes=150001-"}) {
		t.Errorf("Range headers %q", got)
	}
	mustNotExist(t, filepath.Join(cacheDir, "w.pth.part"))
}

func TestResolveWrongHash(t *testing.T) {
	cacheDir, hubDir := isolate(t)
	data := testData(50_000, 23)
	other := sha(testData(50_000, 24))[:8]
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) { serve(w, r, data) })
	opts := ResolveOptions{CacheDir: cacheDir, TorchHubDir: hubDir, Registry: testRegistry(t, testEntry(srv.URL+"/w.pth", other, "")), Downloader: fastDownloader()}
	_, err := Resolve(context.Background(), tname, opts)
	var he *HashMismatchError
	if !errors.As(err, &he) {
		t.Fatalf("err = %v, want a hash mismatch", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, other) || !strings.Contains(msg, sha(data)) || !strings.Contains(msg, srv.URL+"/w.pth") || strings.Contains(msg, "\n") {
		t.Errorf("error %q should name the URL, expected %s and actual %s on one line", msg, other, sha(data))
	}
	mustNotExist(t, filepath.Join(cacheDir, "w.pth"))
	mustNotExist(t, filepath.Join(cacheDir, "w.pth.part"))
}

func TestResolveTorchHubReuse(t *testing.T) {
	cacheDir, hubDir := isolate(t)
	data := testData(30_000, 25)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("unexpected request %s", r.URL)
		http.NotFound(w, r)
	})
	hub := hubDir
	os.MkdirAll(hub, 0o755)
	os.WriteFile(filepath.Join(hub, "w.pth"), data, 0o644)
	opts := ResolveOptions{CacheDir: cacheDir, TorchHubDir: hubDir, Registry: testRegistry(t, testEntry(srv.URL+"/w.pth", sha(data)[:8], "")), Downloader: fastDownloader()}
	p, err := Resolve(context.Background(), tname, opts)
	if err != nil || p != filepath.Join(hub, "w.pth") {
		t.Fatalf("Resolve = %q, %v; want the torch hub file", p, err)
	}
	// Offline works with it too.
	opts.Offline = true
	if p, err := Resolve(context.Background(), tname, opts); err != nil || p != filepath.Join(hub, "w.pth") {
		t.Fatalf("offline Resolve = %q, %v", p, err)
	}
}

func TestResolveTorchHubWrongHashIgnored(t *testing.T) {
	cacheDir, hubDir := isolate(t)
	data := testData(30_000, 26)
	var rec recorder
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		rec.add(r)
		serve(w, r, data)
	})
	hub := hubDir
	os.MkdirAll(hub, 0o755)
	os.WriteFile(filepath.Join(hub, "w.pth"), testData(30_000, 27), 0o644)
	opts := ResolveOptions{CacheDir: cacheDir, TorchHubDir: hubDir, Registry: testRegistry(t, testEntry(srv.URL+"/w.pth", sha(data)[:8], "")), Downloader: fastDownloader()}
	p, err := Resolve(context.Background(), tname, opts)
	if err != nil || p != filepath.Join(cacheDir, "w.pth") || rec.count() != 1 {
		t.Fatalf("Resolve = %q, %v, %d requests", p, err, rec.count())
	}
}

func TestResolveOffline(t *testing.T) {
	cacheDir, hubDir := isolate(t)
	data := testData(20_000, 28)
	var rec recorder
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		rec.add(r)
		serve(w, r, data)
	})
	reg := testRegistry(t, testEntry(srv.URL+"/w.pth", sha(data)[:8], ""))
	opts := ResolveOptions{CacheDir: cacheDir, TorchHubDir: hubDir, Registry: reg, Offline: true}
	_, err := Resolve(context.Background(), tname, opts)
	var oe *OfflineError
	if !errors.As(err, &oe) || !strings.Contains(err.Error(), "w.pth") || !strings.Contains(err.Error(), cacheDir) || strings.Contains(err.Error(), "--") {
		t.Fatalf("err = %v, want an offline error naming the file and cache, and no flag", err)
	}
	if rec.count() != 0 {
		t.Fatalf("offline made %d requests", rec.count())
	}
	// The package reads no environment: GLIPCTL_OFFLINE does not stop it
	// (internal/cli turns it into the option).
	t.Setenv("GLIPCTL_OFFLINE", "1")
	if _, err := Resolve(context.Background(), tname, ResolveOptions{CacheDir: cacheDir, TorchHubDir: hubDir, Registry: reg, Downloader: fastDownloader()}); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	// Cached now: offline finds it without the network.
	p, err := Resolve(context.Background(), tname, ResolveOptions{CacheDir: cacheDir, TorchHubDir: hubDir, Registry: reg, Offline: true})
	if err != nil || p != filepath.Join(cacheDir, "w.pth") {
		t.Fatalf("offline cached Resolve = %q, %v", p, err)
	}
}

func TestResolveMirror(t *testing.T) {
	cacheDir, hubDir := isolate(t)
	data := testData(20_000, 29)
	var rec recorder
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		rec.add(r)
		serve(w, r, data)
	})
	const orig = "https://download.openmmlab.com/mmclassification/v1/glip/w.pth"
	reg := testRegistry(t, testEntry(orig, sha(data)[:8], ""))
	cache := t.TempDir()
	opts := ResolveOptions{CacheDir: cache, Registry: reg, Downloader: fastDownloader(), Mirror: srv.URL + "/prefix"}
	p, err := Resolve(context.Background(), tname, opts)
	if err != nil || p != filepath.Join(cache, "w.pth") {
		t.Fatalf("%q, %v", p, err)
	}
	if got := rec.pathList(); !slices.Equal(got, []string{"/prefix/mmclassification/v1/glip/w.pth"}) {
		t.Errorf("mirror got paths %q", got)
	}
	// GLIPCTL_MIRROR is internal/cli's business: here it changes nothing.
	t.Setenv("GLIPCTL_MIRROR", "not a url")
	if _, err := Resolve(context.Background(), tname, ResolveOptions{CacheDir: cacheDir, TorchHubDir: hubDir, Registry: reg, Offline: true}); err == nil || strings.Contains(err.Error(), "mirror") {
		t.Errorf("GLIPCTL_MIRROR was read: %v", err)
	}
	if _, err := Resolve(context.Background(), tname, ResolveOptions{CacheDir: cacheDir, Registry: reg, Mirror: "not a url"}); err == nil || !strings.Contains(err.Error(), "mirror") {
		t.Errorf("bad mirror: %v", err)
	}
}

// TestResolveOfficial: the official file has no hash. The first mirror
// fails, the second serves it; its sha256 is logged and recorded, and a
// later change to the file is caught.
func TestResolveOfficial(t *testing.T) {
	cacheDir, hubDir := isolate(t)
	data := fixture(t, "official_small.pth")
	var rec recorder
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		rec.add(r)
		if strings.HasPrefix(r.URL.Path, "/a/") {
			http.NotFound(w, r)
			return
		}
		serve(w, r, data)
	})
	reg := testRegistry(t, testEntry(srv.URL+"/w.pth", "00000000", srv.URL))
	var log bytes.Buffer
	opts := ResolveOptions{CacheDir: cacheDir, TorchHubDir: hubDir, Registry: reg, Downloader: fastDownloader(), Log: &log}
	p, err := Resolve(context.Background(), OfficialPrefix+tname, opts)
	if err != nil || p != filepath.Join(cacheDir, "official.pth") || !bytes.Equal(readFile(t, p), data) {
		t.Fatalf("Resolve = %q, %v", p, err)
	}
	if got := rec.pathList(); !slices.Equal(got, []string{"/a/official.pth", "/b/official.pth"}) {
		t.Errorf("paths %q", got)
	}
	if !strings.Contains(log.String(), sha(data)) {
		t.Errorf("log %q does not show the sha256", log.String())
	}
	if opts.RecordedSHA256(p) != sha(data) {
		t.Errorf("manifest does not record the sha256")
	}
	// The Official option is the same as the prefix; cached now.
	opts.Official = true
	if p2, err := Resolve(context.Background(), tname, opts); err != nil || p2 != p || rec.count() != 2 {
		t.Fatalf("Official option: %q, %v", p2, err)
	}
	// A pinned wrong hash is refused, naming both.
	opts.SHA256 = "deadbeef"
	_, err = Resolve(context.Background(), tname, opts)
	if err == nil || !strings.Contains(err.Error(), "deadbeef") || !strings.Contains(err.Error(), sha(data)) {
		t.Errorf("pinned wrong hash: %v", err)
	}
	opts.SHA256 = strings.ToUpper(sha(data)[:12])
	if _, err := Resolve(context.Background(), tname, opts); err != nil {
		t.Errorf("pinned right hash: %v", err)
	}
	opts.SHA256 = ""
	// Change the file: same size, new mtime. The manifest catches it.
	bad := testData(40_000, 31)
	os.WriteFile(p, bad, 0o644)
	os.Chtimes(p, time.Now().Add(time.Hour), time.Now().Add(time.Hour))
	_, err = Resolve(context.Background(), tname, opts)
	if err == nil || !strings.Contains(err.Error(), sha(data)) || !strings.Contains(err.Error(), sha(bad)) {
		t.Fatalf("changed file: %v, want a mismatch naming both hashes", err)
	}
}

// TestResolveVerify: with the manifest's size and mtime unchanged a cached
// file is trusted without re-hashing; Verify re-hashes it.
func TestResolveVerify(t *testing.T) {
	cacheDir, hubDir := isolate(t)
	data := testData(40_000, 32)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) { serve(w, r, data) })
	reg := testRegistry(t, testEntry(srv.URL+"/w.pth", sha(data)[:8], ""))
	opts := ResolveOptions{CacheDir: cacheDir, TorchHubDir: hubDir, Registry: reg, Downloader: fastDownloader()}
	p, err := Resolve(context.Background(), tname, opts)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(p)
	bad := append([]byte(nil), data...)
	bad[100] ^= 1
	os.WriteFile(p, bad, 0o644)
	os.Chtimes(p, st.ModTime(), st.ModTime())
	if _, err := Resolve(context.Background(), tname, opts); err != nil {
		t.Fatalf("fast path: %v", err)
	}
	opts.Verify = true
	_, err = Resolve(context.Background(), tname, opts)
	var he *HashMismatchError
	if !errors.As(err, &he) || he.Actual != sha(bad) {
		t.Fatalf("Verify: %v", err)
	}
}

// TestResolveUnrecordedCachedFile: a file put in the cache by hand is
// hashed, checked against the registry and recorded.
func TestResolveUnrecordedCachedFile(t *testing.T) {
	cacheDir, hubDir := isolate(t)
	data := testData(10_000, 33)
	reg := testRegistry(t, testEntry("http://127.0.0.1:1/w.pth", sha(data)[:8], ""))
	os.MkdirAll(cacheDir, 0o755)
	os.WriteFile(filepath.Join(cacheDir, "w.pth"), data, 0o644)
	opts := ResolveOptions{CacheDir: cacheDir, TorchHubDir: hubDir, Registry: reg, Offline: true}
	if _, err := Resolve(context.Background(), tname, opts); err != nil {
		t.Fatal(err)
	}
	if opts.RecordedSHA256(filepath.Join(cacheDir, "w.pth")) != sha(data) {
		t.Error("not recorded")
	}
	os.WriteFile(filepath.Join(cacheDir, "w.pth"), testData(10_000, 34), 0o644)
	os.Remove(filepath.Join(cacheDir, manifestName))
	if _, err := Resolve(context.Background(), tname, opts); err == nil || !strings.Contains(err.Error(), sha(data)[:8]) {
		t.Errorf("wrong unrecorded file: %v", err)
	}
}

func TestResolvePathsAndUnknownNames(t *testing.T) {
	cacheDir, hubDir := isolate(t)
	dir := t.TempDir()
	f := filepath.Join(dir, "x.pth")
	os.WriteFile(f, []byte("abc"), 0o644)
	if p, err := Resolve(context.Background(), f, ResolveOptions{CacheDir: cacheDir, TorchHubDir: hubDir}); err != nil || p != f {
		t.Errorf("existing file: %q, %v", p, err)
	}
	if _, err := Resolve(context.Background(), f, ResolveOptions{CacheDir: cacheDir, TorchHubDir: hubDir, SHA256: "00000000"}); err == nil || !strings.Contains(err.Error(), sha([]byte("abc"))) {
		t.Errorf("pinned path: %v", err)
	}
	if _, err := Resolve(context.Background(), f, ResolveOptions{CacheDir: cacheDir, TorchHubDir: hubDir, SHA256: sha([]byte("abc"))}); err != nil {
		t.Errorf("pinned path, right hash: %v", err)
	}
	if _, err := Resolve(context.Background(), f, ResolveOptions{CacheDir: cacheDir, TorchHubDir: hubDir, SHA256: "xyz"}); err == nil {
		t.Error("bad --sha256 accepted")
	}
	if _, err := Resolve(context.Background(), dir, ResolveOptions{CacheDir: cacheDir, TorchHubDir: hubDir}); err == nil || !strings.Contains(err.Error(), "directory") {
		t.Errorf("directory: %v", err)
	}
	for _, arg := range []string{"nope.pth", "swin-t", "official:nope", filepath.Join(dir, "missing.pth")} {
		_, err := Resolve(context.Background(), arg, ResolveOptions{CacheDir: cacheDir, TorchHubDir: hubDir})
		var ue *UnknownModelError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), arg) ||
			!strings.Contains(err.Error(), "swin-t_glip-pre_3rdparty") || !strings.Contains(err.Error(), "swin-l_glip-pre_3rdparty_384px") {
			t.Errorf("Resolve(%q): %v", arg, err)
		}
	}
	// The real zoo offline with an empty cache: a clear error, no network.
	_, err := Resolve(context.Background(), "swin-l_glip-pre_3rdparty_384px", ResolveOptions{CacheDir: cacheDir, TorchHubDir: hubDir, Offline: true})
	if err == nil || !strings.Contains(err.Error(), "swin-l_glip-pre_3rdparty_384px_20230413-04b198e8.pth") {
		t.Errorf("offline real zoo: %v", err)
	}
}

// TestConcurrentGoroutines: two downloads of one file at once; the second
// waits for the lock and then uses the first's verified file.
func TestConcurrentGoroutines(t *testing.T) {
	cacheDir, hubDir := isolate(t)
	data := testData(500_000, 35)
	var rec recorder
	arrived := make(chan struct{}, 10)
	release := make(chan struct{})
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		rec.add(r)
		arrived <- struct{}{}
		<-release
		serve(w, r, data)
	})
	reg := testRegistry(t, testEntry(srv.URL+"/w.pth", sha(data)[:8], ""))
	var wg sync.WaitGroup
	paths := make([]string, 2)
	errs := make([]error, 2)
	waitB := newSignalWriter("waiting for another glipctl")
	start := func(i int, log *signalWriter) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			opts := ResolveOptions{CacheDir: cacheDir, TorchHubDir: hubDir, Registry: reg, Downloader: fastDownloader()}
			if log != nil {
				opts.Log = log
			}
			paths[i], errs[i] = Resolve(context.Background(), tname, opts)
		}()
	}
	start(0, nil)
	<-arrived // A holds the lock and is downloading
	start(1, waitB)
	select {
	case <-waitB.ch:
	case <-time.After(10 * time.Second):
		t.Fatal("B never waited for the lock")
	}
	close(release)
	wg.Wait()
	for i := range 2 {
		if errs[i] != nil || paths[i] != filepath.Join(cacheDir, "w.pth") {
			t.Fatalf("download %d: %q, %v", i, paths[i], errs[i])
		}
	}
	if !bytes.Equal(readFile(t, paths[0]), data) || rec.count() != 1 {
		t.Fatalf("file wrong or %d requests (want 1)", rec.count())
	}
	if !strings.Contains(waitB.String(), "downloaded by another process") {
		t.Errorf("B's log: %q", waitB.String())
	}
}

// TestConcurrentProcesses: the same with two glipctl processes (this test
// binary re-executed as a helper, see TestMain).
func TestConcurrentProcesses(t *testing.T) {
	cacheDir, _ := isolate(t)
	data := testData(500_000, 36)
	var rec recorder
	arrived := make(chan struct{}, 10)
	release := make(chan struct{})
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		rec.add(r)
		arrived <- struct{}{}
		<-release
		serve(w, r, data)
	})
	var releaseOnce sync.Once
	defer releaseOnce.Do(func() { close(release) })
	env := append(os.Environ(), "GLIPCTL_ZOO_HELPER=1", "GLIPCTL_ZOO_HELPER_URL="+srv.URL+"/w.pth", "GLIPCTL_ZOO_HELPER_SHA="+sha(data)[:8])
	cmd := func() (*exec.Cmd, *bytes.Buffer) {
		c := exec.Command(os.Args[0], "-test.run=^$")
		c.Env = env
		var out bytes.Buffer
		c.Stdout = &out
		return c, &out
	}
	a, aOut := cmd()
	var aErr bytes.Buffer
	a.Stderr = &aErr
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-arrived:
	case <-time.After(20 * time.Second):
		t.Fatalf("process A made no request; stderr: %s", aErr.String())
	}
	b, bOut := cmd()
	bErrPipe, err := b.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	waitLine(t, bufio.NewScanner(bErrPipe), "waiting for another glipctl", 20*time.Second)
	releaseOnce.Do(func() { close(release) })
	if err := a.Wait(); err != nil {
		t.Fatalf("A: %v; stderr: %s", err, aErr.String())
	}
	if err := b.Wait(); err != nil {
		t.Fatalf("B: %v", err)
	}
	want := filepath.Join(cacheDir, "w.pth") + "\n"
	if aOut.String() != want || bOut.String() != want {
		t.Errorf("stdout A %q B %q, want %q", aOut.String(), bOut.String(), want)
	}
	if !bytes.Equal(readFile(t, filepath.Join(cacheDir, "w.pth")), data) || rec.count() != 1 {
		t.Errorf("file wrong or %d requests (want 1)", rec.count())
	}
}

// TestProxyFromEnvironment: in a child process with HTTP_PROXY set, the
// download of http://zoo.example.invalid/... goes through the proxy.
func TestProxyFromEnvironment(t *testing.T) {
	cacheDir, _ := isolate(t)
	data := testData(10_000, 37)
	var rec recorder
	proxy := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		rec.add(r)
		if r.URL.Host != "zoo.example.invalid" {
			http.Error(w, "not a proxy request", http.StatusBadRequest)
			return
		}
		serve(w, r, data)
	})
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch strings.ToUpper(k) {
		case "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "REQUEST_METHOD":
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "HTTP_PROXY="+proxy.URL, "GLIPCTL_ZOO_HELPER=1",
		"GLIPCTL_ZOO_HELPER_URL=http://zoo.example.invalid/w.pth", "GLIPCTL_ZOO_HELPER_SHA="+sha(data)[:8])
	c := exec.Command(os.Args[0], "-test.run=^$")
	c.Env = env
	out, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v: %s", err, out)
	}
	if rec.count() != 1 || !bytes.Equal(readFile(t, filepath.Join(cacheDir, "w.pth")), data) {
		t.Fatalf("proxy saw %d requests; output %s", rec.count(), out)
	}
}
