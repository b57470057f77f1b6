package zoo

import (
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestDiskFull: the cache is a 2 MiB tmpfs and the file is 4 MiB. The
// error is local: it names the .part once and the cause, is not retried,
// does not try the next mirror, and keeps the .part for a resume.
func TestDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { syscall.Unmount(dir, 0) })
	// Starts like a zip (a checkpoint), so that only the disk stops it.
	data := append([]byte("PK\x03\x04"), testData(4<<20, 52)...)
	var rec recorder
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		rec.add(r)
		w.Header().Set("ETag", `"e"`)
		serve(w, r, data)
	})
	for _, official := range []bool{false, true} {
		rec = recorder{}
		e := testEntry(srv.URL+"/w.pth", sha(data)[:8], srv.URL)
		o := ResolveOptions{CacheDir: filepath.Join(dir, "cache"), Registry: testRegistry(t, e), Downloader: quick()}
		_, err := Fetch(context.Background(), e, official, o)
		var le *LocalError
		if !errors.As(err, &le) || !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("official %v: err = %v, want a local ENOSPC error", official, err)
		}
		part := filepath.Join(dir, "cache", e.Weights.Name+".part")
		if official {
			part = filepath.Join(dir, "cache", "official.pth.part")
		}
		msg := err.Error()
		if strings.Count(msg, part) != 1 || !strings.Contains(msg, "no space left on device") || len(msg) > 200 || strings.Contains(msg, "127.0.0.1") {
			t.Errorf("error %q should name %s once, the cause, and no mirror", msg, part)
		}
		if rec.count() != 1 {
			t.Errorf("official %v: %d requests, want 1 (no retry, no next mirror)", official, rec.count())
		}
		if st, err := os.Stat(part); err != nil || st.Size() == 0 {
			t.Errorf("partial file not kept: %v", err)
		}
		os.Remove(part)
		os.Remove(MetaPath(part))
	}
}
