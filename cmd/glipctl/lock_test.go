package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/glipctl/glipctl/internal/cli"
	"github.com/glipctl/glipctl/internal/zoo"
)

// lockFixture is a zoo served locally whose mmpretrain file is
// testdata/mmpretrain_small.pth and official file testdata/official_small.pth.
type lockFixture struct {
	cache          string
	reg            *zoo.Registry
	weights, offic []byte
	srv            *httptest.Server
	requests       *atomic.Int32
}

func newLockFixture(t *testing.T) *lockFixture {
	t.Helper()
	f := &lockFixture{cache: zooTestEnv(t)}
	var err error
	if f.weights, err = os.ReadFile(fixture("mmpretrain_small.pth")); err != nil {
		t.Fatal(err)
	}
	if f.offic, err = os.ReadFile(fixture("official_small.pth")); err != nil {
		t.Fatal(err)
	}
	f.srv, f.requests = zooServer(t, f.weights, f.offic)
	f.reg = testZooRegistry(t, f.srv.URL, dlSHA256(f.weights)[:8])
	return f
}

func (f *lockFixture) zoo() cli.Zoo {
	return cli.Zoo{Base: zoo.ResolveOptions{
		Registry:   f.reg,
		Downloader: &zoo.Downloader{Retries: 1, Backoff: time.Millisecond, StallTimeout: 5 * time.Second},
	}}
}

// lock writes a lock of names to a temp file and returns its path.
func (f *lockFixture) lock(t *testing.T, names ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "glipctl.lock")
	io, _, errOut := testStreams()
	if err := lockRun(&lockOptions{IO: io, Names: names, Output: path, Zoo: f.zoo()}); err != nil {
		t.Fatalf("lock %v: %v\n%s", names, err, errOut)
	}
	return path
}

func TestLockWritesPins(t *testing.T) {
	f := newLockFixture(t)
	path := f.lock(t, "official:swin-t_glip-pre_3rdparty", "swin-t_glip-pre_3rdparty")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var l struct {
		Version int
		Files   []struct {
			Name, File, SHA256 string
			URLs               []string
			Size               int64
		}
	}
	if err := json.Unmarshal(data, &l); err != nil {
		t.Fatal(err)
	}
	if l.Version != 1 || len(l.Files) != 2 {
		t.Fatalf("lock %s", data)
	}
	// Sorted by name; hashes and sizes of the served bytes (crypto/sha256).
	for i, want := range []struct {
		name, file, url string
		data            []byte
	}{
		{"official:swin-t_glip-pre_3rdparty", "o.pth", f.srv.URL + "/o.pth", f.offic},
		{"swin-t_glip-pre_3rdparty", "w.pth", f.srv.URL + "/w.pth", f.weights},
	} {
		e := l.Files[i]
		if e.Name != want.name || e.File != want.file || e.SHA256 != dlSHA256(want.data) || e.Size != int64(len(want.data)) || len(e.URLs) != 1 || e.URLs[0] != want.url {
			t.Errorf("entry %d = %+v, want %s %s %s %d", i, e, want.name, want.file, dlSHA256(want.data), len(want.data))
		}
	}
	// The same files in another order, from the cache: the same bytes.
	again, err := os.ReadFile(f.lock(t, "swin-t_glip-pre_3rdparty", "official:swin-t_glip-pre_3rdparty"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, data) {
		t.Errorf("second lock differs:\n%s\n%s", again, data)
	}
	if n := f.requests.Load(); n != 2 {
		t.Errorf("%d requests, want 2 (the second lock uses the cache)", n)
	}
	// Unknown names are usage errors.
	io, _, _ := testStreams()
	err = lockRun(&lockOptions{IO: io, Names: []string{"swin-b"}, Output: path, Zoo: f.zoo()})
	if testExitCode(err) != exitUsage {
		t.Errorf("lock swin-b: %v (exit %d), want a usage error", err, testExitCode(err))
	}
}

// editLock rewrites the lock at path with edit applied to its entries.
func editLock(t *testing.T, path string, edit func(*zoo.Lock)) {
	t.Helper()
	l, err := zoo.ReadLock(path)
	if err != nil {
		t.Fatal(err)
	}
	edit(l)
	data, err := l.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestLockRefusesOtherBytes: download, inspect, convert and forward with
// --lock refuse a file whose sha256 is not the locked one, and a zoo name
// the lock does not list.
func TestLockRefusesOtherBytes(t *testing.T) {
	f := newLockFixture(t)
	lock := f.lock(t, "official:swin-t_glip-pre_3rdparty")
	good := dlSHA256(f.offic)
	other := strings.Repeat("ab", 32)
	editLock(t, lock, func(l *zoo.Lock) { l.Files[0].SHA256 = other })
	os.Remove(filepath.Join(f.cache, "o.pth")) // downloaded again, under the lock

	io, out, _ := testStreams()
	opts := testDownloadOptions(io, f.reg, "official:swin-t_glip-pre_3rdparty")
	opts.Zoo.LockPath = lock
	err := downloadRun(opts)
	if testExitCode(err) != exitError || !strings.Contains(err.Error(), other) || !strings.Contains(err.Error(), good) || !strings.Contains(err.Error(), "locked in "+lock) {
		t.Fatalf("download --lock: %v, want a mismatch naming %s and %s", err, other, good)
	}
	if out.Len() != 0 {
		t.Errorf("stdout %q", out.String())
	}
	if _, err := os.Stat(filepath.Join(f.cache, "o.pth")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a file with the wrong hash was placed in the cache")
	}

	// The correct lock: the file downloads; then the cached file changes.
	editLock(t, lock, func(l *zoo.Lock) { l.Files[0].SHA256 = good })
	io, out, _ = testStreams()
	opts = testDownloadOptions(io, f.reg, "official:swin-t_glip-pre_3rdparty")
	opts.Zoo.LockPath = lock
	if err := downloadRun(opts); err != nil {
		t.Fatal(err)
	}
	cached := strings.TrimSpace(out.String())
	tampered := bytes.Clone(f.offic)
	tampered[len(tampered)-100] ^= 1
	bad := dlSHA256(tampered)
	zo := f.zoo()
	zo.LockPath = lock
	for _, tc := range []struct {
		cmd string
		run func() error
	}{
		{"inspect", func() error {
			io, _, _ := testStreams()
			return inspectRun(nil, &inspectOptions{IO: io, Files: []string{"official:swin-t_glip-pre_3rdparty"}, Format: "text", Zoo: zo})
		}},
		{"inspect FILE", func() error {
			io, _, _ := testStreams()
			z := zo
			z.Base.Registry = nil
			return inspectRun(nil, &inspectOptions{IO: io, Files: []string{cached}, Format: "text", Zoo: z})
		}},
		{"convert", func() error {
			io, _, _ := testStreams()
			var co *convertOptions
			cmd := newConvertCmd(io, func(o *convertOptions) error { co = o; return nil })
			cmd.SetArgs([]string{"official:swin-t_glip-pre_3rdparty", "-o", filepath.Join(t.TempDir(), "x.safetensors"), "--lock", lock})
			if err := cmd.Execute(); err != nil {
				t.Fatal(err)
			}
			co.Zoo.Base = zo.Base
			return convertRun(co)
		}},
		{"forward", func() error {
			io, _, _ := testStreams()
			var fo *forwardOptions
			cmd := newForwardCmd(io, func(o *forwardOptions) error { fo = o; return nil })
			cmd.SetArgs([]string{"-m", "official:swin-t_glip-pre_3rdparty", "--input", fixture("forward/x_37x53.npy"), "-o", filepath.Join(t.TempDir(), "f.safetensors"), "--lock", lock})
			if err := cmd.Execute(); err != nil {
				t.Fatal(err)
			}
			fo.Zoo.Base = zo.Base
			return forwardRun(nil, fo)
		}},
	} {
		// The lock pins other bytes than the (intact) cached file's.
		editLock(t, lock, func(l *zoo.Lock) { l.Files[0].SHA256 = other })
		err := tc.run()
		if testExitCode(err) != exitError || !strings.Contains(err.Error(), good) || !strings.Contains(err.Error(), other) || !strings.Contains(err.Error(), "locked in") {
			t.Errorf("%s --lock pinning other bytes: %v (exit %d), want a refusal naming %s and %s", tc.cmd, err, testExitCode(err), other, good)
		}
		// The cached file changed under a correct lock.
		editLock(t, lock, func(l *zoo.Lock) { l.Files[0].SHA256 = good })
		if err := os.WriteFile(cached, tampered, 0o644); err != nil {
			t.Fatal(err)
		}
		err = tc.run()
		if testExitCode(err) != exitError || !strings.Contains(err.Error(), good) || !strings.Contains(err.Error(), bad) {
			t.Errorf("%s --lock on a changed file: %v (exit %d), want a refusal naming %s and %s", tc.cmd, err, testExitCode(err), good, bad)
		}
		if err := os.WriteFile(cached, f.offic, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// A zoo name the lock does not list.
	io, _, _ = testStreams()
	opts = testDownloadOptions(io, f.reg, "swin-t_glip-pre_3rdparty")
	opts.Zoo.LockPath = lock
	err = downloadRun(opts)
	var nl *zoo.NotLockedError
	if !errors.As(err, &nl) || !strings.Contains(err.Error(), "--lock") {
		t.Errorf("unlisted name: %v, want a NotLockedError with a --lock hint", err)
	}
	// A broken lock file.
	os.WriteFile(lock, []byte(`{"version": 1, "files": [{"name": "x"`), 0o644)
	err = downloadRun(opts)
	if testExitCode(err) != exitError || !strings.Contains(err.Error(), lock) {
		t.Errorf("broken lock: %v, want an error naming %s", err, lock)
	}
}

func TestLockFlagOnEveryReader(t *testing.T) {
	io, _, _ := testStreams()
	root := newRootCmd(io)
	for _, name := range []string{"download", "convert", "forward", "inspect", "diff", "verify"} {
		c, _, err := root.Find([]string{name})
		if err != nil || c.Flags().Lookup("lock") == nil {
			t.Errorf("%s has no --lock (%v)", name, err)
		}
	}
	if c, _, _ := root.Find([]string{"lock"}); c.Flags().Lookup("lock") != nil {
		t.Error("lock takes --lock")
	}
}

// TestReadLockRefusesBadFiles: hand-edited or hostile lock files are one
// error naming the file.
func TestReadLockRefusesBadFiles(t *testing.T) {
	good := `{"version":1,"files":[{"name":"a","file":"a.pth","urls":["https://h/a.pth"],"size":1,"sha256":"` + strings.Repeat("a", 64) + `"}]}`
	for _, tc := range []struct{ name, data, want string }{
		{"not json", "{", "not a glipctl lock file"},
		{"version", strings.Replace(good, `"version":1`, `"version":2`, 1), "version 2"},
		{"short hash", strings.Replace(good, strings.Repeat("a", 64), "aaaa", 1), "64 lower-case hex"},
		{"path file", strings.Replace(good, `"a.pth"`, `"../a.pth"`, 1), "bad file name"},
		{"reserved file", strings.Replace(good, `"a.pth"`, `"a.pth.part"`, 1), "reserved"},
		{"file url", strings.Replace(good, "https://h/a.pth", "file:///etc/passwd", 1), "not http(s)"},
		{"unknown field", strings.Replace(good, `"size":1`, `"size":1,"x":2`, 1), "unknown field"},
		{"negative size", strings.Replace(good, `"size":1`, `"size":-1`, 1), "negative size"},
		{"twice", strings.Replace(good, `}]}`, `},`+good[strings.Index(good, `{"name"`):], 1), "listed twice"},
	} {
		p := filepath.Join(t.TempDir(), "glipctl.lock")
		os.WriteFile(p, []byte(tc.data), 0o644)
		_, err := zoo.ReadLock(p)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v, want one line naming %s and %q", tc.name, err, p, tc.want)
		}
	}
	if _, err := zoo.ReadLock(t.TempDir()); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("directory: %v", err)
	}
}
