package zoo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestDownloadFull(t *testing.T) {
	data := testData(700_000, 1)
	var rec recorder
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		rec.add(r)
		if ae := r.Header.Get("Accept-Encoding"); ae != "identity" {
			t.Errorf("Accept-Encoding %q, want identity", ae)
		}
		serve(w, r, data)
	})
	part := filepath.Join(t.TempDir(), "f.pth.part")
	var reports []Progress
	d := fastDownloader()
	d.Progress = func(p Progress) { reports = append(reports, p) }
	if err := d.Download(context.Background(), srv.URL+"/f.pth", part); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readFile(t, part), data) {
		t.Fatal("downloaded bytes differ")
	}
	if rec.count() != 1 || rec.rangeHeaders()[0] != "" {
		t.Errorf("requests: ranges %q, want one without Range", rec.rangeHeaders())
	}
	last := reports[len(reports)-1]
	if !last.Final || last.Done != int64(len(data)) || last.Total != int64(len(data)) || last.File != "f.pth" {
		t.Errorf("last progress report %+v", last)
	}
}

// TestDownloadResumeAfterCuts cuts the connection at several offsets; each
// retry must ask for the rest with the right Range and the result must be
// the whole file.
func TestDownloadResumeAfterCuts(t *testing.T) {
	data := testData(300_000, 2)
	cuts := []int{1000, 5000, 5000, 5001, 200_000}
	var rec recorder
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		i := rec.add(r)
		if i < len(cuts) {
			cutResponse(t, w, r, data, cuts[i])
			return
		}
		serve(w, r, data)
	})
	part := filepath.Join(t.TempDir(), "f.part")
	if err := fastDownloader().Download(context.Background(), srv.URL+"/f", part); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readFile(t, part), data) {
		t.Fatal("resumed file differs from the original")
	}
	want := []string{"", "bytes=1000-", "bytes=5000-", "bytes=5000-", "bytes=5001-", "bytes=200000-"}
	if got := rec.rangeHeaders(); !slices.Equal(got, want) {
		t.Errorf("Range headers %q, want %q", got, want)
	}
}

// TestDownloadResumesPartFile: an existing .part (an earlier interrupted
// run) is continued, not restarted.
func TestDownloadResumesPartFile(t *testing.T) {
	data := testData(50_000, 3)
	var rec recorder
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		rec.add(r)
		serve(w, r, data)
	})
	part := filepath.Join(t.TempDir(), "f.part")
	os.WriteFile(part, data[:12345], 0o644)
	if err := fastDownloader().Download(context.Background(), srv.URL+"/f", part); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readFile(t, part), data) {
		t.Fatal("file differs")
	}
	if got := rec.rangeHeaders(); !slices.Equal(got, []string{"bytes=12345-"}) {
		t.Errorf("Range headers %q", got)
	}
}

// TestDownloadCompletePart: a .part that already holds the whole file gets
// 416 (with "bytes */N") and is accepted as is.
func TestDownloadCompletePart(t *testing.T) {
	data := testData(10_000, 4)
	var rec recorder
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		rec.add(r)
		serve(w, r, data)
	})
	part := filepath.Join(t.TempDir(), "f.part")
	os.WriteFile(part, data, 0o644)
	if err := fastDownloader().Download(context.Background(), srv.URL+"/f", part); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readFile(t, part), data) || rec.count() != 1 {
		t.Fatalf("file differs or %d requests", rec.count())
	}
}

// TestDownloadPartLongerThanFile: a .part longer than the file (left from
// something else) is discarded and the file fetched afresh.
func TestDownloadPartLongerThanFile(t *testing.T) {
	data := testData(10_000, 5)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) { serve(w, r, data) })
	part := filepath.Join(t.TempDir(), "f.part")
	os.WriteFile(part, testData(20_000, 6), 0o644)
	if err := fastDownloader().Download(context.Background(), srv.URL+"/f", part); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readFile(t, part), data) {
		t.Fatal("file differs")
	}
}

// TestDownloadServerIgnoresRange: the server answers a Range request with
// 200 and the whole body; the download restarts cleanly.
func TestDownloadServerIgnoresRange(t *testing.T) {
	data := testData(100_000, 7)
	var rec recorder
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if rec.add(r) == 0 {
			cutResponse(t, w, r, data, 40_000)
			return
		}
		r.Header.Del("Range")
		serve(w, r, data)
	})
	part := filepath.Join(t.TempDir(), "f.part")
	if err := fastDownloader().Download(context.Background(), srv.URL+"/f", part); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readFile(t, part), data) {
		t.Fatal("file differs: the 200 body was not written from the start")
	}
	if got := rec.rangeHeaders(); !slices.Equal(got, []string{"", "bytes=40000-"}) {
		t.Errorf("Range headers %q", got)
	}
}

// TestDownloadWrongContentRange: a 206 for another range than asked is
// discarded and the download restarted.
func TestDownloadWrongContentRange(t *testing.T) {
	data := testData(10_000, 8)
	var rec recorder
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if rec.add(r) == 0 {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes 0-%d/%d", len(data)-1, len(data)))
			w.WriteHeader(http.StatusPartialContent)
			w.Write(data)
			return
		}
		serve(w, r, data)
	})
	part := filepath.Join(t.TempDir(), "f.part")
	os.WriteFile(part, data[:100], 0o644)
	if err := fastDownloader().Download(context.Background(), srv.URL+"/f", part); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readFile(t, part), data) {
		t.Fatal("file differs")
	}
	if got := rec.rangeHeaders(); !slices.Equal(got, []string{"bytes=100-", ""}) {
		t.Errorf("Range headers %q", got)
	}
}

func TestDownload404NoRetry(t *testing.T) {
	var rec recorder
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		rec.add(r)
		http.NotFound(w, r)
	})
	part := filepath.Join(t.TempDir(), "f.part")
	u := srv.URL + "/missing.pth"
	err := fastDownloader().Download(context.Background(), u, part)
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 404 {
		t.Fatalf("err = %v, want a 404 StatusError", err)
	}
	if se.URL != u || !strings.Contains(err.Error(), strings.TrimPrefix(srv.URL, "http://")) || !strings.Contains(err.Error(), "404") || strings.Contains(err.Error(), "\n") {
		t.Errorf("error %q (URL %q) should be one line naming the host and 404", err, se.URL)
	}
	if rec.count() != 1 {
		t.Errorf("%d requests, want 1 (no retry on 404)", rec.count())
	}
}

func TestDownload500ThenSuccess(t *testing.T) {
	data := testData(5000, 9)
	var rec recorder
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if rec.add(r) == 0 {
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		serve(w, r, data)
	})
	part := filepath.Join(t.TempDir(), "f.part")
	var log bytes.Buffer
	d := fastDownloader()
	d.Log = &log
	if err := d.Download(context.Background(), srv.URL+"/f", part); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readFile(t, part), data) || rec.count() != 2 {
		t.Fatalf("file differs or %d requests (want 2)", rec.count())
	}
	if !strings.Contains(log.String(), "500") || !strings.Contains(log.String(), "retrying") {
		t.Errorf("log %q should mention the 500 and the retry", log.String())
	}
}

// TestDownloadRetriesBounded: a server that always fails is tried
// 1+Retries times, with growing delays.
func TestDownloadRetriesBounded(t *testing.T) {
	var rec recorder
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		rec.add(r)
		http.Error(w, "busy", http.StatusServiceUnavailable)
	})
	d := &Downloader{Retries: 3, Backoff: 10 * time.Millisecond, MaxBackoff: time.Second}
	err := d.Download(context.Background(), srv.URL+"/f", filepath.Join(t.TempDir(), "f.part"))
	if err == nil || !strings.Contains(err.Error(), "503") || !strings.Contains(err.Error(), "(4 attempts)") {
		t.Fatalf("err = %v", err)
	}
	if rec.count() != 4 {
		t.Fatalf("%d requests, want 4", rec.count())
	}
	// Delays of 10, 20, 40 ms: each gap at least its nominal backoff.
	times := rec.timeList()
	for i, want := range []time.Duration{10, 20, 40} {
		if gap := times[i+1].Sub(times[i]); gap < want*time.Millisecond {
			t.Errorf("gap %d = %v, want >= %v", i, gap, want*time.Millisecond)
		}
	}
	// Negative Retries: a single attempt.
	n := rec.count()
	d.Retries = -1
	d.Download(context.Background(), srv.URL+"/f", filepath.Join(t.TempDir(), "g.part"))
	if rec.count() != n+1 {
		t.Errorf("Retries -1 made %d requests, want 1", rec.count()-n)
	}
}

// TestDownloadStall: a server that sends some bytes and then nothing is
// abandoned after StallTimeout, and the retry resumes.
func TestDownloadStall(t *testing.T) {
	data := testData(100_000, 10)
	var rec recorder
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if rec.add(r) == 0 {
			w.Header().Set("Content-Length", fmt.Sprint(len(data)))
			w.WriteHeader(200)
			w.Write(data[:777])
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-time.After(30 * time.Second):
			}
			return
		}
		serve(w, r, data)
	})
	part := filepath.Join(t.TempDir(), "f.part")

	d := &Downloader{Retries: -1, StallTimeout: 150 * time.Millisecond}
	start := time.Now()
	err := d.Download(context.Background(), srv.URL+"/f", part)
	if err == nil || !strings.Contains(err.Error(), "stalled") || !strings.Contains(err.Error(), strings.TrimPrefix(srv.URL, "http://")) {
		t.Fatalf("err = %v, want a stall naming the host", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("stall detected after %v", el)
	}
	// The bytes received before the stall are kept and resumed from.
	d.Retries = 1
	if err := d.Download(context.Background(), srv.URL+"/f", part); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readFile(t, part), data) {
		t.Fatal("file differs")
	}
	if got := rec.rangeHeaders(); !slices.Equal(got, []string{"", "bytes=777-"}) {
		t.Errorf("Range headers %q", got)
	}
}

// TestDownloadStallBeforeHeaders: a server that never answers times out too.
func TestDownloadStallBeforeHeaders(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(30 * time.Second):
		}
	})
	d := &Downloader{Retries: 1, Backoff: time.Millisecond, StallTimeout: 100 * time.Millisecond}
	start := time.Now()
	err := d.Download(context.Background(), srv.URL+"/f", filepath.Join(t.TempDir(), "f.part"))
	if err == nil || !strings.Contains(err.Error(), "stalled") {
		t.Fatalf("err = %v", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("took %v", el)
	}
}

// TestDownloadRedirect: redirects are followed, and a resumed request keeps
// its Range through them.
func TestDownloadRedirect(t *testing.T) {
	data := testData(20_000, 11)
	var rec recorder
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		rec.add(r)
		if r.URL.Path == "/old" {
			http.Redirect(w, r, "/new", http.StatusFound)
			return
		}
		serve(w, r, data)
	})
	part := filepath.Join(t.TempDir(), "f.part")
	os.WriteFile(part, data[:3000], 0o644)
	if err := fastDownloader().Download(context.Background(), srv.URL+"/old", part); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readFile(t, part), data) {
		t.Fatal("file differs")
	}
	if !slices.Equal(rec.pathList(), []string{"/old", "/new"}) || !slices.Equal(rec.rangeHeaders(), []string{"bytes=3000-", "bytes=3000-"}) {
		t.Errorf("paths %q ranges %q", rec.pathList(), rec.rangeHeaders())
	}
}

func TestDownloadContextCancel(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "busy", http.StatusServiceUnavailable)
	})
	ctx, cancel := context.WithCancel(context.Background())
	var n atomic.Int32
	d := &Downloader{Retries: 100, Backoff: time.Hour, Log: writerFunc(func(p []byte) { n.Add(1); cancel() })}
	start := time.Now()
	err := d.Download(ctx, srv.URL+"/f", filepath.Join(t.TempDir(), "f.part"))
	if !errors.Is(err, context.Canceled) || time.Since(start) > 5*time.Second {
		t.Fatalf("err = %v after %v", err, time.Since(start))
	}
}

type writerFunc func([]byte)

func (f writerFunc) Write(p []byte) (int, error) { f(p); return len(p), nil }

func TestParseContentRange(t *testing.T) {
	for _, c := range []struct {
		in               string
		start, end, size int64
		ok               bool
	}{
		{"bytes 0-99/100", 0, 99, 100, true},
		{"bytes 10-99/100", 10, 99, 100, true},
		{"bytes 10-99/*", 10, 99, -1, true},
		{"bytes */100", -1, -1, 100, true},
		{"bytes 10-100/100", 0, 0, 0, false},
		{"bytes 20-10/100", 0, 0, 0, false},
		{"items 0-1/2", 0, 0, 0, false},
		{"bytes x-1/2", 0, 0, 0, false},
		{"", 0, 0, 0, false},
	} {
		start, end, size, ok := parseContentRange(c.in)
		if ok != c.ok || (ok && (start != c.start || end != c.end || size != c.size)) {
			t.Errorf("parseContentRange(%q) = %d, %d, %d, %v", c.in, start, end, size, ok)
		}
	}
}

func TestRewriteURL(t *testing.T) {
	const u = "https://download.openmmlab.com/mmclassification/v1/glip/x.pth"
	for _, c := range []struct{ mirror, want string }{
		{"", u},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080/mmclassification/v1/glip/x.pth"},
		{"http://127.0.0.1:8080/", "http://127.0.0.1:8080/mmclassification/v1/glip/x.pth"},
		{"https://m.example/cache/", "https://m.example/cache/mmclassification/v1/glip/x.pth"},
	} {
		got, err := RewriteURL(u, c.mirror)
		if err != nil || got != c.want {
			t.Errorf("RewriteURL(%q) = %q, %v; want %q", c.mirror, got, err, c.want)
		}
	}
	got, _ := RewriteURL("https://huggingface.co/GLIPModel/GLIP/resolve/main/glip_large_model.pth?download=true", "http://m")
	if got != "http://m/GLIPModel/GLIP/resolve/main/glip_large_model.pth?download=true" {
		t.Errorf("query not kept: %q", got)
	}
	for _, bad := range []string{"m.example", "ftp://m", "http://", "http://m/?x=1"} {
		if _, err := RewriteURL(u, bad); err == nil {
			t.Errorf("mirror %q accepted", bad)
		}
	}
}

func TestDefaultClientUsesProxyFromEnvironment(t *testing.T) {
	tr, ok := DefaultClient().Transport.(*http.Transport)
	if !ok || tr.Proxy == nil {
		t.Fatal("default client's transport has no Proxy function")
	}
	// TestProxyFromEnvironment (resolve_test.go) checks it end to end in a
	// child process.
}

func TestHumanBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 5 << 20: "5.0 MiB", 3 << 30: "3.0 GiB"} {
		if got := HumanBytes(n); got != want {
			t.Errorf("HumanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
