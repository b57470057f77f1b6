package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/glipctl/glipctl/internal/zoo"
)

func cacheWith(t *testing.T, action string, mod func(*cacheOptions)) (string, error) {
	t.Helper()
	io, out, _ := testStreams()
	o := &cacheOptions{IO: io, Action: action, Format: "text"}
	if mod != nil {
		mod(o)
	}
	err := cacheRun(o)
	return out.String(), err
}

type pruneJSON struct {
	Removed []zoo.Pruned `json:"removed"`
}

func prunedPaths(t *testing.T, dryRun bool) []string {
	t.Helper()
	out, err := cacheWith(t, "prune", func(o *cacheOptions) { o.Format = "json"; o.DryRun = dryRun })
	if err != nil {
		t.Fatal(err)
	}
	var p pruneJSON
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	var paths []string
	for _, r := range p.Removed {
		paths = append(paths, r.Path)
	}
	return paths
}

func TestCacheLsPruneStale(t *testing.T) {
	f := newLockFixture(t)
	f.lock(t, "swin-t_glip-pre_3rdparty", "official:swin-t_glip-pre_3rdparty")
	// Stale things: an interrupted download of another file, a lock of no
	// download, a damaged digest entry, a temp file of a killed writer, the
	// manifest entry of a deleted file.
	write := func(rel string, data string, age time.Duration) {
		p := filepath.Join(f.cache, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		if age > 0 {
			old := time.Now().Add(-age)
			os.Chtimes(p, old, old)
		}
	}
	write("x.pth.part", "partial bytes", 0)
	write("x.pth.part.meta", `{"url":"http://h/x.pth","etag":"\"1\"","size":100}`, 0)
	write("y.pth.lock", "", 0)
	write("digests/1-2.json", "{not json", 0)
	write(".w.pth.tmp-0123456789ab", "torn", 2*time.Hour)
	if err := os.Remove(filepath.Join(f.cache, "o.pth")); err != nil {
		t.Fatal(err)
	}

	out, err := cacheWith(t, "ls", func(o *cacheOptions) { o.Format = "json"; o.Zoo.Base.Registry = f.reg })
	if err != nil {
		t.Fatal(err)
	}
	var ls struct {
		Dir   string          `json:"dir"`
		Files []zoo.CacheFile `json:"files"`
	}
	if err := json.Unmarshal([]byte(out), &ls); err != nil {
		t.Fatal(err)
	}
	kinds := map[string]zoo.CacheFile{}
	for _, c := range ls.Files {
		kinds[c.Path] = c
	}
	if w := kinds["w.pth"]; w.Kind != zoo.KindFile || w.SHA256 != dlSHA256(f.weights) || w.Size != int64(len(f.weights)) || w.Model != "swin-t_glip-pre_3rdparty" {
		t.Errorf("ls w.pth: %+v", w)
	}
	if p := kinds["x.pth.part"]; p.Kind != zoo.KindPartial || p.InUse {
		t.Errorf("ls x.pth.part: %+v", p)
	}
	if k := kinds[".w.pth.tmp-0123456789ab"]; k.Kind != zoo.KindTemp {
		t.Errorf("ls temp: %+v", k)
	}
	if _, ok := kinds["manifest.json"]; ok || ls.Dir != f.cache {
		t.Errorf("ls lists the manifest or the wrong dir: %s", out)
	}

	want := []string{".w.pth.tmp-0123456789ab", "digests/1-2.json", "manifest.json#o.pth", "o.pth.lock", "w.pth.lock", "x.pth.lock", "x.pth.part", "x.pth.part.meta", "y.pth.lock"}
	// x.pth.lock is made (and removed) by prune itself, so that no download
	// starts on the .part while it is removed: not reported.
	want = slices.DeleteFunc(want, func(s string) bool { return s == "x.pth.lock" })
	if got := prunedPaths(t, true); !slices.Equal(got, want) {
		t.Errorf("dry run: %q, want %q", got, want)
	}
	if _, err := os.Stat(filepath.Join(f.cache, "x.pth.part")); err != nil {
		t.Errorf("the dry run removed x.pth.part")
	}
	if got := prunedPaths(t, false); !slices.Equal(got, want) {
		t.Errorf("prune: %q, want %q", got, want)
	}
	for _, p := range want {
		if _, err := os.Stat(filepath.Join(f.cache, strings.Split(p, "#")[0])); err == nil && !strings.Contains(p, "#") {
			t.Errorf("%s still there", p)
		}
	}
	if got := prunedPaths(t, false); len(got) != 0 {
		t.Errorf("second prune removed %q", got)
	}
	// What was kept is intact and still verified.
	if out, err := verifyWith(t, f, "", "text", "swin-t_glip-pre_3rdparty"); err != nil || !strings.HasPrefix(out, "ok ") {
		t.Errorf("verify after prune: %v %s", err, out)
	}
	if m, _ := os.ReadFile(filepath.Join(f.cache, "manifest.json")); bytes.Contains(m, []byte(`"o.pth"`)) {
		t.Errorf("manifest still lists o.pth: %s", m)
	}
}

// TestCachePruneDuringDownload: prune while a download is under way leaves
// its .part and lock alone (ls shows them in use), and the download ends
// verified; many prunes racing many downloads never break one.
func TestCachePruneDuringDownload(t *testing.T) {
	f := newLockFixture(t)
	half := len(f.weights) / 2
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(f.weights)))
		w.WriteHeader(200)
		w.Write(f.weights[:half])
		http.NewResponseController(w).Flush()
		started <- struct{}{}
		<-release
		w.Write(f.weights[half:])
	}))
	defer srv.Close()
	reg := testZooRegistry(t, srv.URL, dlSHA256(f.weights)[:8])
	done := make(chan error, 1)
	go func() {
		io, _, _ := testStreams()
		done <- downloadRun(testDownloadOptions(io, reg, "swin-t_glip-pre_3rdparty"))
	}()
	<-started
	part := filepath.Join(f.cache, "w.pth.part")
	deadline := time.Now().Add(5 * time.Second)
	for {
		if st, err := os.Stat(part); err == nil && st.Size() > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no .part appeared")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := prunedPaths(t, false); len(got) != 0 {
		t.Errorf("prune during the download removed %q", got)
	}
	out, err := cacheWith(t, "ls", nil)
	if err != nil || !regexp.MustCompile(`w\.pth\.part +partial \(in use\)`).MatchString(out) || !regexp.MustCompile(`w\.pth\.lock +lock \(in use\)`).MatchString(out) {
		t.Errorf("ls during the download: %v\n%s", err, out)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("download: %v", err)
	}
	if got, _ := os.ReadFile(filepath.Join(f.cache, "w.pth")); !bytes.Equal(got, f.weights) {
		t.Fatal("downloaded file differs")
	}
	if got := prunedPaths(t, false); !slices.Equal(got, []string{"w.pth.lock"}) {
		t.Errorf("prune after the download: %q, want the idle lock", got)
	}

	// Race: downloads of a fresh file while prune runs in a loop.
	fast, _ := zooServer(t, f.weights, f.offic)
	reg = testZooRegistry(t, fast.URL, dlSHA256(f.weights)[:8])
	for i := range 10 {
		os.Remove(filepath.Join(f.cache, "w.pth"))
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
					zoo.PruneCache(t.Context(), f.cache, zoo.PruneOptions{})
				}
			}
		}()
		var errs [2]error
		var dl sync.WaitGroup
		for k := range errs {
			dl.Add(1)
			go func() {
				defer dl.Done()
				io, _, _ := testStreams()
				errs[k] = downloadRun(testDownloadOptions(io, reg, "swin-t_glip-pre_3rdparty"))
			}()
		}
		dl.Wait()
		close(stop)
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatalf("round %d: download during prune: %v", i, err)
			}
		}
		if got, _ := os.ReadFile(filepath.Join(f.cache, "w.pth")); !bytes.Equal(got, f.weights) {
			t.Fatalf("round %d: file differs", i)
		}
	}
}

func TestCacheKeyAndPath(t *testing.T) {
	f := newLockFixture(t)
	lock := f.lock(t, "swin-t_glip-pre_3rdparty", "official:swin-t_glip-pre_3rdparty")
	key := func(path string) string {
		t.Helper()
		out, err := cacheWith(t, "key", func(o *cacheOptions) { o.Zoo.LockPath = path })
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(out)
	}
	k1 := key(lock)
	if !regexp.MustCompile(`^glipctl-1-[0-9a-f]{32}$`).MatchString(k1) {
		t.Fatalf("key %q", k1)
	}
	// Reordered entries, other URLs, other formatting: the same key.
	l, err := zoo.ReadLock(lock)
	if err != nil {
		t.Fatal(err)
	}
	l.Files[0], l.Files[1] = l.Files[1], l.Files[0]
	l.Files[0].URLs = []string{"https://mirror.example/o.pth"}
	data, _ := json.Marshal(l)
	other := filepath.Join(t.TempDir(), "other.lock")
	os.WriteFile(other, data, 0o644)
	if k := key(other); k != k1 {
		t.Errorf("reordered lock: key %s, want %s", k, k1)
	}
	l.Files[0].SHA256 = strings.Repeat("0", 64)
	data, _ = json.Marshal(l)
	os.WriteFile(other, data, 0o644)
	if k := key(other); k == k1 {
		t.Errorf("a changed hash keeps the key %s", k)
	}
	if _, err := cacheWith(t, "key", func(o *cacheOptions) { o.Zoo.LockPath = filepath.Join(t.TempDir(), "none.lock") }); testExitCode(err) != exitError || !strings.Contains(err.Error(), "none.lock") {
		t.Errorf("missing lock: %v", err)
	}
	if out, err := cacheWith(t, "path", nil); err != nil || strings.TrimSpace(out) != f.cache {
		t.Errorf("path: %q %v, want %s", out, err, f.cache)
	}
	// Through the command line: cache key's --lock defaults to glipctl.lock.
	code, _, stderr := runCmd(t, "cache", "key", "--cache-dir", f.cache)
	if code != exitError || !strings.Contains(stderr, "glipctl.lock") {
		t.Errorf("cache key without glipctl.lock here: exit %d, %s", code, stderr)
	}
	if code, _, _ := runCmd(t, "cache"); code != exitUsage {
		t.Errorf("cache without a subcommand: exit %d, want 2", code)
	}
}
