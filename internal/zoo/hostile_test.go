package zoo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Misbehaving servers, each against the real downloader and a real
// httptest server. Every case must end in seconds with an error, or with
// exactly the server's current file.

// quick is a downloader with short bounds: a stall is under 1 KiB/s over
// 300 ms.
func quick() *Downloader {
	return &Downloader{Retries: 2, Backoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, StallTimeout: 300 * time.Millisecond, MinRate: 1024}
}

// within fails the test if f takes longer than limit.
func within(t *testing.T, limit time.Duration, f func()) time.Duration {
	t.Helper()
	start := time.Now()
	f()
	el := time.Since(start)
	if el > limit {
		t.Errorf("took %v, want at most %v", el, limit)
	}
	return el
}

// officialEntry is an entry whose official file (the small fixture's
// architecture, no hash) is at base+"/a/official.pth" and base+"/b/official.pth".
func officialOpts(t *testing.T, base string) (ResolveOptions, string) {
	cacheDir, _ := isolate(t)
	reg := testRegistry(t, testEntry(base+"/w.pth", "00000000", base))
	return ResolveOptions{CacheDir: cacheDir, Registry: reg, Downloader: quick(), Official: true}, cacheDir
}

// nothingRecorded checks that no final file, manifest entry or partial
// file with content is left for official.pth.
func nothingRecorded(t *testing.T, o ResolveOptions, cacheDir string) {
	t.Helper()
	mustNotExist(t, filepath.Join(cacheDir, "official.pth"))
	if s := o.RecordedSHA256(filepath.Join(cacheDir, "official.pth")); s != "" {
		t.Errorf("manifest records %s", s)
	}
}

// TestLongContentLengthRangeIgnored: the server announces more bytes than
// it sends and ignores Range, so every attempt restarts from byte 0 and
// ends at the same place. The retries run out (they used to restart after
// every attempt that received bytes, forever).
func TestLongContentLengthRangeIgnored(t *testing.T) {
	data := testData(200_000, 50)
	var rec recorder
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		rec.add(r)
		w.Header().Set("Content-Length", fmt.Sprint(2*len(data)))
		w.WriteHeader(200)
		w.Write(data)
	})
	d := quick()
	var err error
	within(t, 5*time.Second, func() { err = d.Download(context.Background(), srv.URL+"/f", filepath.Join(t.TempDir(), "f.part")) })
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("connection closed at byte %d of %d", len(data), 2*len(data))) {
		t.Fatalf("err = %v", err)
	}
	if n := rec.count(); n != d.Retries+1 {
		t.Errorf("%d requests, want %d (no attempt made progress)", n, d.Retries+1)
	}
}

// TestLongContentLengthThen416: the body stops short of its
// Content-Length and the resume gets 416 "bytes */<what was sent>". That
// must not complete the file (it did, with exit 0).
func TestLongContentLengthThen416(t *testing.T) {
	data := fixture(t, "official_small.pth")
	var rec recorder
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		rec.add(r)
		if r.Header.Get("Range") != "" {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", len(data)))
			w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
			return
		}
		w.Header().Set("ETag", `"e1"`)
		w.Header().Set("Content-Length", fmt.Sprint(len(data)+5000))
		w.WriteHeader(200)
		w.Write(data)
	})
	part := filepath.Join(t.TempDir(), "f.part")
	var log bytes.Buffer
	d := quick()
	d.Log = &log
	err := d.Download(context.Background(), srv.URL+"/f", part)
	if err == nil || !strings.Contains(log.String(), fmt.Sprintf("after announcing %d", len(data)+5000)) {
		t.Fatalf("err = %v; log %q", err, log.String())
	}
	// And through Fetch of a hash-less file: nothing recorded.
	o, cacheDir := officialOpts(t, srv.URL)
	if _, err := Fetch(context.Background(), o.Registry.Entries()[0], true, o); err == nil {
		t.Fatal("accepted a body shorter than its Content-Length")
	}
	nothingRecorded(t, o, cacheDir)
}

// TestShortContentLength: a Content-Length shorter than the file: the
// body the client reads is a truncated checkpoint, which the backbone
// proof refuses for a file with no hash.
func TestShortContentLength(t *testing.T) {
	data := fixture(t, "official_small.pth")
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(len(data)-4096))
		w.WriteHeader(200)
		w.Write(data[:len(data)-4096])
	})
	o, cacheDir := officialOpts(t, srv.URL)
	_, err := Fetch(context.Background(), o.Registry.Entries()[0], true, o)
	if err == nil || !strings.Contains(err.Error(), "PyTorch") && !strings.Contains(err.Error(), "zip") {
		t.Fatalf("err = %v, want the truncated file refused", err)
	}
	nothingRecorded(t, o, cacheDir)
	mustNotExist(t, filepath.Join(cacheDir, "official.pth.part"))
}

// TestLyingContentRange: the resume's 206 gives another total than the
// first response announced; the result must not be a file of that size.
func TestLyingContentRange(t *testing.T) {
	data := fixture(t, "official_small.pth")
	half := len(data) / 2
	var rec recorder
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		rec.add(r)
		w.Header().Set("ETag", `"e1"`)
		off := requestedOffset(t, r)
		if off == 0 {
			cutResponseWith(t, w, r, data, half, "ETag: \"e1\"\r\n")
			return
		}
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", off, off+99, off+100))
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(http.StatusPartialContent)
		w.Write(data[off : off+100])
	})
	part := filepath.Join(t.TempDir(), "f.part")
	d := quick()
	d.RequireValidator = true
	var log bytes.Buffer
	d.Log = &log
	var err error
	within(t, 5*time.Second, func() { err = d.Download(context.Background(), srv.URL+"/f", part) })
	if err == nil || !strings.Contains(log.String(), fmt.Sprintf("Content-Range total %d differs from the %d bytes announced", half+100, len(data))) {
		t.Fatalf("err = %v; log %q", err, log.String())
	}
	if rec.count() > 4*(d.Retries+1) {
		t.Errorf("%d requests", rec.count())
	}
	o, cacheDir := officialOpts(t, srv.URL)
	if _, err := Fetch(context.Background(), o.Registry.Entries()[0], true, o); err == nil {
		t.Fatal("accepted a lying Content-Range")
	}
	nothingRecorded(t, o, cacheDir)
}

// TestFileChangedBetweenAttempts: the first attempt gets half of version
// 1; then the server has version 2. The resume sends If-Range with the
// validator of version 1, the server (http.ServeContent, not ours)
// answers 200 with version 2, and the client restarts: the result is
// exactly version 2, never a splice. With an ETag and with only
// Last-Modified.
func TestFileChangedBetweenAttempts(t *testing.T) {
	v1 := fixture(t, "official_small.pth")
	v2 := fixture(t, "official_small_legacy.pth")
	t1 := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, how := range []string{"etag", "last-modified"} {
		t.Run(how, func(t *testing.T) {
			var rec recorder
			var ifRange []string
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				i := rec.add(r)
				ifRange = append(ifRange, r.Header.Get("If-Range"))
				data, mod, etag := v1, t1, `"v1"`
				if i > 0 {
					data, mod, etag = v2, t1.Add(time.Hour), `"v2"`
				}
				if how == "etag" {
					w.Header().Set("ETag", etag)
					mod = time.Time{}
				}
				if i == 0 {
					h := "Last-Modified: " + mod.Format(http.TimeFormat) + "\r\n"
					if how == "etag" {
						h = "ETag: " + etag + "\r\n"
					}
					cutResponseWith(t, w, r, data, len(data)/2, h)
					return
				}
				http.ServeContent(w, r, "", mod, bytes.NewReader(data))
			})
			o, cacheDir := officialOpts(t, srv.URL)
			p, err := Fetch(context.Background(), o.Registry.Entries()[0], true, o)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(readFile(t, p), v2) {
				t.Fatal("the result is not version 2")
			}
			want := `"v1"`
			if how != "etag" {
				want = t1.Format(http.TimeFormat)
			}
			if rh := rec.rangeHeaders(); len(rh) != 2 || rh[1] != fmt.Sprintf("bytes=%d-", len(v1)/2) || ifRange[1] != want {
				t.Errorf("Range %q If-Range %q, want a resume with If-Range %s", rh, ifRange, want)
			}
			if o.RecordedSHA256(p) != sha(v2) {
				t.Error("manifest does not record version 2")
			}
			mustNotExist(t, filepath.Join(cacheDir, "official.pth.part.meta"))
		})
	}
}

// TestStalePartWithoutValidator: a .part with no validator (left by an
// older glipctl, or by a server that gives none) of a file no hash checks
// is not resumed: the download starts from byte 0.
func TestStalePartWithoutValidator(t *testing.T) {
	v2 := fixture(t, "official_small.pth")
	var rec recorder
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		rec.add(r)
		serve(w, r, v2)
	})
	o, cacheDir := officialOpts(t, srv.URL)
	os.MkdirAll(cacheDir, 0o755)
	os.WriteFile(filepath.Join(cacheDir, "official.pth.part"), testData(300_000, 51), 0o644)
	p, err := Fetch(context.Background(), o.Registry.Entries()[0], true, o)
	if err != nil || !bytes.Equal(readFile(t, p), v2) {
		t.Fatalf("%q, %v", p, err)
	}
	if rh := rec.rangeHeaders(); len(rh) != 1 || rh[0] != "" {
		t.Errorf("Range headers %q, want one request from byte 0", rh)
	}
}

// TestRedirectLoop: a redirect to itself is not followed 10 times and not
// retried.
func TestRedirectLoop(t *testing.T) {
	var rec recorder
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		rec.add(r)
		http.Redirect(w, r, r.URL.Path, http.StatusFound)
	})
	var err error
	within(t, 2*time.Second, func() {
		err = quick().Download(context.Background(), srv.URL+"/loop", filepath.Join(t.TempDir(), "f.part"))
	})
	if err == nil || !strings.Contains(err.Error(), "redirect loop") {
		t.Fatalf("err = %v", err)
	}
	if rec.count() != 1 {
		t.Errorf("%d requests, want 1", rec.count())
	}
	// A long chain of distinct redirects: given up at the 10th.
	rec = recorder{}
	srv2 := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		rec.add(r)
		http.Redirect(w, r, fmt.Sprintf("/r%d", rec.count()), http.StatusFound)
	})
	err = quick().Download(context.Background(), srv2.URL+"/r", filepath.Join(t.TempDir(), "g.part"))
	if err == nil || !strings.Contains(err.Error(), "stopped after 10 redirects") || rec.count() != 10 {
		t.Fatalf("err = %v after %d requests", err, rec.count())
	}
}

// TestHugeHeaders: response headers over the transport's limit (10 MB) are
// not retried.
func TestHugeHeaders(t *testing.T) {
	var rec recorder
	pad := strings.Repeat("a", 11<<20)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		rec.add(r)
		w.Header().Set("X-Pad", pad)
		w.WriteHeader(200)
	})
	d := quick()
	d.StallTimeout = 3 * time.Second // 11 MB of headers on a loaded machine
	var err error
	within(t, 5*time.Second, func() {
		err = d.Download(context.Background(), srv.URL+"/f", filepath.Join(t.TempDir(), "f.part"))
	})
	if err == nil || !strings.Contains(err.Error(), "response headers too large") || len(err.Error()) > 200 {
		t.Fatalf("err = %v", err)
	}
	if rec.count() != 1 {
		t.Errorf("%d requests, want 1", rec.count())
	}
}

// TestDrip: a server sending 1 byte per second is abandoned by the rate
// rule, and each attempt's byte does not count as progress.
func TestDrip(t *testing.T) {
	var rec recorder
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		rec.add(r)
		w.Header().Set("Content-Length", "1000000")
		w.WriteHeader(200)
		for {
			w.Write([]byte{'x'})
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(time.Second):
			}
		}
	})
	d := quick()
	var err error
	within(t, 5*time.Second, func() { err = d.Download(context.Background(), srv.URL+"/f", filepath.Join(t.TempDir(), "f.part")) })
	if err == nil || !strings.Contains(err.Error(), "below the minimum rate of 1.0 KiB/s") {
		t.Fatalf("err = %v", err)
	}
	if rec.count() != d.Retries+1 {
		t.Errorf("%d requests, want %d", rec.count(), d.Retries+1)
	}
}

// TestSilence: a server that accepts and never answers.
func TestSilence(t *testing.T) {
	var rec recorder
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		rec.add(r)
		<-r.Context().Done()
	})
	d := quick()
	var err error
	within(t, 5*time.Second, func() { err = d.Download(context.Background(), srv.URL+"/f", filepath.Join(t.TempDir(), "f.part")) })
	if err == nil || !strings.Contains(err.Error(), "no data for 300ms") {
		t.Fatalf("err = %v", err)
	}
	if rec.count() != d.Retries+1 {
		t.Errorf("%d requests, want %d", rec.count(), d.Retries+1)
	}
}

// TestEndlessBody: zeros without a Content-Length, forever. A hashed file
// stops at its size bound; a hash-less one at its first bytes, which are
// not a checkpoint's.
func TestEndlessBody(t *testing.T) {
	var rec recorder
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		rec.add(r)
		w.WriteHeader(200)
		z := make([]byte, 64<<10)
		for r.Context().Err() == nil {
			if _, err := w.Write(z); err != nil {
				return
			}
		}
	})
	d := quick()
	d.MaxSize = 4 << 20
	part := filepath.Join(t.TempDir(), "f.part")
	var err error
	within(t, 5*time.Second, func() { err = d.Download(context.Background(), srv.URL+"/f", part) })
	if err == nil || !strings.Contains(err.Error(), "exceeds the 4194304 bytes") || rec.count() != 1 {
		t.Fatalf("err = %v, %d requests", err, rec.count())
	}
	if st, err := os.Stat(part); err != nil || st.Size() != 0 {
		t.Errorf("partial file: %v, %v; want it emptied", st, err)
	}
	o, cacheDir := officialOpts(t, srv.URL)
	within(t, 5*time.Second, func() { _, err = Fetch(context.Background(), o.Registry.Entries()[0], true, o) })
	if err == nil || !strings.Contains(err.Error(), "not a PyTorch checkpoint (starts as neither a zip nor a pickle)") {
		t.Fatalf("Fetch: %v", err)
	}
	nothingRecorded(t, o, cacheDir)
	mustNotExist(t, filepath.Join(cacheDir, "official.pth.part"))
}

// TestTextFromRedirect: the first mirror redirects to 15 bytes of text
// (a login page, an error message); the second has the file. The text is
// refused and the second mirror's file used; with no good mirror, nothing
// is recorded.
func TestTextFromRedirect(t *testing.T) {
	data := fixture(t, "official_small.pth")
	good := true
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, "/a/"):
			http.Redirect(w, r, "/login", http.StatusFound)
		case r.URL.Path == "/login" || !good:
			w.Header().Set("Content-Type", "text/plain")
			w.Write([]byte("Access denied.\n"))
		default:
			serve(w, r, data)
		}
	})
	o, cacheDir := officialOpts(t, srv.URL)
	p, err := Fetch(context.Background(), o.Registry.Entries()[0], true, o)
	if err != nil || !bytes.Equal(readFile(t, p), data) {
		t.Fatalf("%q, %v", p, err)
	}
	good = false
	o, cacheDir = officialOpts(t, srv.URL)
	_, err = Fetch(context.Background(), o.Registry.Entries()[0], true, o)
	if err == nil || !strings.HasSuffix(err.Error(), ": not a PyTorch checkpoint (starts as neither a zip nor a pickle) (2 URLs)") || len(err.Error()) > 200 {
		t.Fatalf("err = %v", err)
	}
	nothingRecorded(t, o, cacheDir)
}

// TestCachedBogusFileNotServed: a hash-less file in the cache that is not
// the entry's checkpoint (what older versions accepted and recorded) is
// refused even though the manifest records its hash.
func TestCachedBogusFileNotServed(t *testing.T) {
	cacheDir, _ := isolate(t)
	reg := testRegistry(t, testEntry("http://127.0.0.1:1/w.pth", "00000000", "http://127.0.0.1:1"))
	o := ResolveOptions{CacheDir: cacheDir, Registry: reg, Official: true, Offline: true}
	for name, data := range map[string][]byte{
		"zeros":     make([]byte, 3000),
		"text":      []byte("Access denied.\n"),
		"mmpre":     fixture(t, "mmpretrain_small.pth"), // right arch, other layout: accepted
		"truncated": fixture(t, "official_small.pth")[:400_000],
	} {
		p := filepath.Join(cacheDir, "official.pth")
		os.MkdirAll(cacheDir, 0o755)
		os.WriteFile(p, data, 0o644)
		st, _ := os.Stat(p)
		c := &cache{dir: cacheDir}
		if err := c.record(context.Background(), "official.pth", manifestFile{SHA256: sha(data), Size: st.Size(), MTime: st.ModTime()}); err != nil {
			t.Fatal(err)
		}
		_, err := Resolve(context.Background(), tname, o)
		var nb *NotBackboneError
		if name == "mmpre" {
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
			continue
		}
		if !errors.As(err, &nb) || !strings.Contains(err.Error(), p) || len(err.Error()) > 250 {
			t.Errorf("%s: err = %v, want a NotBackboneError naming the file", name, err)
		}
	}
}

// TestWrongArchitectureRefused: a real checkpoint of another architecture
// than the entry's is not recorded as the entry's official file.
func TestWrongArchitectureRefused(t *testing.T) {
	data := fixture(t, "official_small.pth")
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) { serve(w, r, data) })
	cacheDir, _ := isolate(t)
	e := testEntry(srv.URL+"/w.pth", "00000000", srv.URL)
	e.Arch.Window = 12
	o := ResolveOptions{CacheDir: cacheDir, Registry: testRegistry(t, e), Downloader: quick()}
	_, err := Fetch(context.Background(), e, true, o)
	if err == nil || !strings.Contains(err.Error(), "window 7, want") {
		t.Fatalf("err = %v", err)
	}
	nothingRecorded(t, o, cacheDir)
}

// TestTimeLimit: a download that is not stalled but does not finish within
// ResolveOptions.Timeout stops with a *TimeLimitError and keeps its .part.
func TestTimeLimit(t *testing.T) {
	data := fixture(t, "official_small.pth")
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"e"`)
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
		w.WriteHeader(200)
		for i := 0; i < len(data) && r.Context().Err() == nil; i += 4096 {
			w.Write(data[i:min(i+4096, len(data))])
			w.(http.Flusher).Flush()
			time.Sleep(50 * time.Millisecond)
		}
	})
	o, cacheDir := officialOpts(t, srv.URL)
	o.Timeout = 400 * time.Millisecond
	var err error
	within(t, 3*time.Second, func() { _, err = Fetch(context.Background(), o.Registry.Entries()[0], true, o) })
	var tl *TimeLimitError
	if !errors.As(err, &tl) || strings.Contains(err.Error(), "--") {
		t.Fatalf("err = %v", err)
	}
	if st, err := os.Stat(filepath.Join(cacheDir, "official.pth.part")); err != nil || st.Size() == 0 {
		t.Errorf("partial file not kept: %v", err)
	}
}
