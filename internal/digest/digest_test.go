package digest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// aged makes every file look older than the racy window, as if hashing
// started an hour from now.
func aged(t *testing.T) {
	t.Helper()
	now = func() time.Time { return time.Now().Add(time.Hour) }
	t.Cleanup(func() { now = time.Now })
}

func needStat(t *testing.T) {
	t.Helper()
	if _, ok := statPath("."); !ok {
		t.Skipf("no cache on %s", runtime.GOOS)
	}
}

func write(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, c Cache, path string) Digest {
	t.Helper()
	d, err := c.File(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func entries(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestHitAfterMiss(t *testing.T) {
	needStat(t)
	aged(t)
	dir := t.TempDir()
	c := Cache{Dir: filepath.Join(dir, "digests")}
	p := filepath.Join(dir, "f")
	data := bytes.Repeat([]byte("glip"), 700_000) // several 1 MiB pieces
	write(t, p, data)
	if d := get(t, c, p); d.Cached || d.SHA256 != sum(data) {
		t.Fatalf("first: %+v, want computed %s", d, sum(data))
	}
	if n := len(entries(t, c.Dir)); n != 1 {
		t.Fatalf("%d entries, want 1", n)
	}
	if d := get(t, c, p); !d.Cached || d.SHA256 != sum(data) {
		t.Fatalf("second: %+v, want cached %s", d, sum(data))
	}
	// Rehash reads the file again.
	d, err := c.Rehash(context.Background(), p)
	if err != nil || d.Cached || d.SHA256 != sum(data) {
		t.Fatalf("rehash: %+v, %v", d, err)
	}
	// Another name for the same file (a hard link) shares the entry.
	q := filepath.Join(dir, "link")
	if err := os.Link(p, q); err == nil {
		// The link changed the file's ctime: a miss, then a hit.
		if d := get(t, c, q); d.Cached {
			t.Fatalf("after link: %+v, want computed", d)
		}
		if d := get(t, c, p); !d.Cached || d.SHA256 != sum(data) {
			t.Fatalf("via the first name: %+v, want cached", d)
		}
	}
}

func TestMissAfterSameSizeChange(t *testing.T) {
	needStat(t)
	aged(t)
	dir := t.TempDir()
	c := Cache{Dir: filepath.Join(dir, "digests")}
	p := filepath.Join(dir, "f")
	write(t, p, []byte("aaaa"))
	get(t, c, p)
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	// Same size, new content, mtime moved (as a touch would).
	write(t, p, []byte("bbbb"))
	if err := os.Chtimes(p, time.Time{}, fi.ModTime().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if d := get(t, c, p); d.Cached || d.SHA256 != sum([]byte("bbbb")) {
		t.Fatalf("after touch: %+v, want computed sum of bbbb", d)
	}
	// Same size, new content, and the old mtime put back: ctime changed.
	fi, _ = os.Stat(p)
	write(t, p, []byte("cccc"))
	if err := os.Chtimes(p, time.Time{}, fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if d := get(t, c, p); d.Cached || d.SHA256 != sum([]byte("cccc")) {
		t.Fatalf("after mtime reset: %+v, want computed sum of cccc", d)
	}
}

func TestMissAfterSizeChange(t *testing.T) {
	needStat(t)
	aged(t)
	dir := t.TempDir()
	c := Cache{Dir: filepath.Join(dir, "digests")}
	p := filepath.Join(dir, "f")
	write(t, p, []byte("aaaa"))
	get(t, c, p)
	fi, _ := os.Stat(p)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("a"))
	f.Close()
	os.Chtimes(p, time.Time{}, fi.ModTime())
	if d := get(t, c, p); d.Cached || d.SHA256 != sum([]byte("aaaaa")) {
		t.Fatalf("after append: %+v, want computed", d)
	}
}

func TestRacyFileNotStored(t *testing.T) {
	needStat(t)
	dir := t.TempDir()
	c := Cache{Dir: filepath.Join(dir, "digests")}
	p := filepath.Join(dir, "f")
	write(t, p, []byte("fresh")) // mtime and ctime: now
	if d := get(t, c, p); d.Cached {
		t.Fatalf("%+v", d)
	}
	if e := entries(t, c.Dir); len(e) != 0 {
		t.Fatalf("racy file stored: %v", e)
	}
	if d := get(t, c, p); d.Cached {
		t.Fatalf("racy file served from the cache: %+v", d)
	}
	// An old mtime is not enough: the ctime is fresh.
	os.Chtimes(p, time.Time{}, time.Now().Add(-time.Hour))
	get(t, c, p)
	if e := entries(t, c.Dir); len(e) != 0 {
		t.Fatalf("file with a fresh ctime stored: %v", e)
	}
}

func TestCorruptEntryIgnored(t *testing.T) {
	needStat(t)
	aged(t)
	dir := t.TempDir()
	c := Cache{Dir: filepath.Join(dir, "digests")}
	p := filepath.Join(dir, "f")
	write(t, p, []byte("data"))
	get(t, c, p)
	e := entries(t, c.Dir)
	if len(e) != 1 {
		t.Fatalf("entries %v", e)
	}
	good, _ := os.ReadFile(e[0])
	st, _ := statPath(p)
	other := bytes.Replace(good, []byte(`"size":4`), []byte(`"size":5`), 1)
	for name, bad := range map[string][]byte{
		"empty":     {},
		"garbage":   []byte("\x00\xffnot json"),
		"truncated": good[:len(good)/2],
		"bad sum":   bytes.Replace(good, []byte(sum([]byte("data"))), []byte("zz"+sum([]byte("data"))[2:]), 1),
		"version":   bytes.Replace(good, []byte(`"version":1`), []byte(`"version":9`), 1),
		"foreign":   other, // an entry that describes another version of the file
	} {
		if err := os.WriteFile(c.entryPath(st), bad, 0o644); err != nil {
			t.Fatal(err)
		}
		if d := get(t, c, p); d.Cached || d.SHA256 != sum([]byte("data")) {
			t.Fatalf("%s entry: %+v", name, d)
		}
		// The recomputed sum replaced it.
		if d := get(t, c, p); !d.Cached {
			t.Fatalf("%s entry not replaced", name)
		}
	}
	// An entry that says a wrong sum for the right stat is trusted: that is
	// the contract of a stat cache; but a sum of the wrong form is not.
}

func TestNoCacheDir(t *testing.T) {
	aged(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	write(t, p, []byte("x"))
	for range 2 {
		if d := get(t, Cache{}, p); d.Cached || d.SHA256 != sum([]byte("x")) {
			t.Fatalf("%+v", d)
		}
	}
	if e := entries(t, dir); len(e) != 1 {
		t.Fatalf("zero Cache wrote %v", e)
	}
	if err := (Cache{}).Record(p, sum([]byte("x")), nil); err != nil {
		t.Fatal(err)
	}
}

func TestUnwritableCacheIsNotAnError(t *testing.T) {
	needStat(t)
	aged(t)
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	write(t, blocker, nil)
	c := Cache{Dir: filepath.Join(blocker, "digests")} // under a regular file
	p := filepath.Join(dir, "f")
	write(t, p, []byte("x"))
	if d := get(t, c, p); d.Cached || d.SHA256 != sum([]byte("x")) {
		t.Fatalf("%+v", d)
	}
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	c := Cache{Dir: filepath.Join(dir, "digests")}
	if _, err := c.File(context.Background(), filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	if _, err := c.File(context.Background(), dir); err == nil {
		t.Fatal("a directory: no error")
	}
}

func TestCancel(t *testing.T) {
	aged(t)
	dir := t.TempDir()
	c := Cache{Dir: filepath.Join(dir, "digests")}
	p := filepath.Join(dir, "f")
	write(t, p, make([]byte, 3<<20))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.File(ctx, p); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled before: %v", err)
	}
	// Cancelled while reading: the reads stop at the next piece.
	ctx, cancel = context.WithCancel(context.Background())
	r := &cancelReader{data: make([]byte, 5<<20), cancel: cancel}
	if _, err := hashReader(ctx, r); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled while reading: %v", err)
	}
	if r.reads > 2 {
		t.Fatalf("%d reads after the cancel", r.reads-1)
	}
	if e := entries(t, c.Dir); len(e) != 0 {
		t.Fatalf("cancelled hash stored %v", e)
	}
}

// cancelReader cancels its context on the first read.
type cancelReader struct {
	data   []byte
	cancel func()
	reads  int
}

func (r *cancelReader) Read(p []byte) (int, error) {
	r.reads++
	r.cancel()
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestRecord(t *testing.T) {
	needStat(t)
	dir := t.TempDir()
	c := Cache{Dir: filepath.Join(dir, "digests")}
	part := filepath.Join(dir, "f.part")
	data := []byte("downloaded")
	write(t, part, data)
	hashed, err := os.Stat(part)
	if err != nil {
		t.Fatal(err)
	}
	final := filepath.Join(dir, "f")
	if err := os.Rename(part, final); err != nil {
		t.Fatal(err)
	}
	if err := c.Record(final, sum(data), hashed); err != nil {
		t.Fatal(err)
	}
	// Fresh as it is, the recorded file is served from the cache.
	if d := get(t, c, final); !d.Cached || d.SHA256 != sum(data) {
		t.Fatalf("%+v", d)
	}
	// A file that changed since it was hashed is not recorded.
	other := filepath.Join(dir, "g")
	write(t, other, []byte("one"))
	hashed, _ = os.Stat(other)
	write(t, other, []byte("one more"))
	if err := c.Record(other, sum([]byte("one")), hashed); err == nil {
		t.Fatal("changed file recorded")
	}
	if err := c.Record(final, "not a sum", hashed); err == nil {
		t.Fatal("bad sum recorded")
	}
	// Another file's stat.
	if err := c.Record(other, sum([]byte("one more")), hashedOf(t, final)); err == nil {
		t.Fatal("recorded with another file's stat")
	}
}

func hashedOf(t *testing.T, p string) os.FileInfo {
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi
}
