package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testData is the served file: 1 MiB of seeded random bytes.
var testData = func() []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, 1<<20)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}()

// server serves testData through net/http's own Range handling
// (http.ServeContent), unless h replaces it, and counts body bytes.
type server struct {
	*httptest.Server
	sent, requests atomic.Int64
}

type counting struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (w counting) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.n.Add(int64(n))
	return n, err
}

func serveData(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("ETag", `"v1"`)
	http.ServeContent(w, r, "f.bin", time.Unix(1e9, 0), bytes.NewReader(testData))
}

func newServer(t *testing.T, h http.HandlerFunc) *server {
	t.Helper()
	s := &server{}
	if h == nil {
		h = serveData
	}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		h(counting{w, &s.sent}, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func open(t *testing.T, s *server, o Options) (*File, error) {
	t.Helper()
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Second
	}
	return Open(context.Background(), s.URL+"/f.bin", o)
}

// TestReadAtMatchesTheFile reads random ranges, small and large, some
// concurrently, and compares them with the file's bytes.
func TestReadAtMatchesTheFile(t *testing.T) {
	s := newServer(t, nil)
	f, err := open(t, s, Options{CacheSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	if f.Size() != int64(len(testData)) {
		t.Fatalf("size %d, want %d", f.Size(), len(testData))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 7))
			for range 200 {
				n := r.IntN(3000)
				if r.IntN(10) == 0 {
					n = r.IntN(400 << 10)
				}
				off := r.Int64N(int64(len(testData)) + 100)
				p := make([]byte, n)
				k, err := f.ReadAt(p, off)
				want := testData[min(off, int64(len(testData))):min(off+int64(n), int64(len(testData)))]
				if k != len(want) || !bytes.Equal(p[:k], want) {
					errs <- fmt.Errorf("ReadAt(%d bytes, %d) = %d bytes, want %d equal ones", n, off, k, len(want))
					return
				}
				if k < n && err != io.EOF || k == n && err != nil {
					errs <- fmt.Errorf("ReadAt(%d bytes, %d) = %d, %v", n, off, k, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestSequentialReadAhead: small sequential reads cost far fewer requests
// than reads, and fetch no more than the bounded read-ahead past the end.
func TestSequentialReadAhead(t *testing.T) {
	s := newServer(t, nil)
	f, err := open(t, s, Options{MaxReadAhead: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	r := io.NewSectionReader(f, 0, 256<<10)
	var got bytes.Buffer
	buf := make([]byte, 100)
	for {
		n, err := r.Read(buf)
		got.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got.Bytes(), testData[:256<<10]) {
		t.Fatal("sequential read differs from the file")
	}
	reqs, sent := s.requests.Load(), s.sent.Load()
	t.Logf("%d reads of 100 bytes: %d requests, %d bytes", (256<<10)/100, reqs, sent)
	if reqs > 12 {
		t.Errorf("%d requests for 256 KiB read 100 bytes at a time, want a handful (read-ahead)", reqs)
	}
	if sent > 256<<10+64<<10 {
		t.Errorf("sent %d bytes for 256 KiB, want at most 64 KiB of read-ahead more", sent)
	}
}

func TestNoRange(t *testing.T) {
	big := bytes.Repeat([]byte{1}, 64<<20)
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(len(big)))
		w.Write(big)
	})
	start := time.Now()
	_, err := open(t, s, Options{})
	var nr *NoRangeError
	if !errors.As(err, &nr) {
		t.Fatalf("got %v, want a NoRangeError", err)
	}
	if !strings.Contains(err.Error(), s.URL) || !strings.Contains(err.Error(), "Range") {
		t.Errorf("message %q should name the URL and Range", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v to notice", d)
	}
}

// misbehave serves testData's range like net/http would, then lets bend
// change the answer's headers and body.
func misbehave(bend func(h http.Header, body []byte, start, end int64) []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var start, end int64
		if _, err := fmt.Sscanf(r.Header.Get("Range"), "bytes=%d-%d", &start, &end); err != nil {
			http.Error(w, "no range", 400)
			return
		}
		end = min(end, int64(len(testData))-1)
		body := testData[start : end+1]
		h := w.Header()
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end, len(testData)))
		h.Set("Content-Length", fmt.Sprint(len(body)))
		body = bend(h, body, start, end)
		w.WriteHeader(http.StatusPartialContent)
		w.Write(body)
	}
}

func TestLyingAndTruncatedServers(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		bend       func(h http.Header, body []byte, start, end int64) []byte
	}{
		{"Content-Length larger than the body", "Content-Length", func(h http.Header, b []byte, s, e int64) []byte {
			h.Set("Content-Length", fmt.Sprint(len(b)+1000))
			return b
		}},
		{"Content-Length smaller than the range", "Content-Length", func(h http.Header, b []byte, s, e int64) []byte {
			h.Set("Content-Length", fmt.Sprint(len(b)/2))
			return b[:len(b)/2]
		}},
		{"huge Content-Length", "Content-Length", func(h http.Header, b []byte, s, e int64) []byte {
			h.Set("Content-Length", "9000000000000000000")
			return b
		}},
		{"truncated body", "truncated response", func(h http.Header, b []byte, s, e int64) []byte {
			return b[:len(b)/3]
		}},
		{"other range", "Content-Range", func(h http.Header, b []byte, s, e int64) []byte {
			h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", s+1, e+1, len(testData)))
			return b
		}},
		{"size changes", "size changed", func(h http.Header, b []byte, s, e int64) []byte {
			if s > 0 {
				h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", s, e, 1<<40))
			}
			return b
		}},
		{"no total", "no total size", func(h http.Header, b []byte, s, e int64) []byte {
			h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/*", s, e))
			return b
		}},
		{"garbage Content-Range", "bad Content-Range", func(h http.Header, b []byte, s, e int64) []byte {
			h.Set("Content-Range", "bytes 0-x/12")
			return b
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t, misbehave(tc.bend))
			start := time.Now()
			err := func() error {
				f, err := open(t, s, Options{})
				if err != nil {
					return err
				}
				p := make([]byte, 1000)
				_, err = f.ReadAt(p, 500_000)
				if err != nil {
					// Sticky: even a read of the cached first block fails.
					if _, again := f.ReadAt(p[:10], 0); again != err || f.Err() != err {
						t.Errorf("after %v, a cached read gives %v and Err %v", err, again, f.Err())
					}
				}
				return err
			}()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error on %q", err, tc.want)
			}
			var re *ResponseError
			if !errors.As(err, &re) {
				t.Errorf("%v is a %T, want a *ResponseError", err, err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
}

// TestHugeTotal: a server claiming an 8 EB file opens (nothing is
// allocated by that size) and reading near its claimed end asks for one
// block, which the server cannot give.
func TestHugeTotal(t *testing.T) {
	const claimed = int64(1) << 62
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		var start, end int64
		fmt.Sscanf(r.Header.Get("Range"), "bytes=%d-%d", &start, &end)
		if start != 0 {
			if end-start+1 > 1<<20 {
				t.Errorf("asked for %d bytes at %d", end-start+1, start)
			}
			w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", claimed))
			w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
			return
		}
		w.Header().Set("Content-Range", fmt.Sprintf("bytes 0-%d/%d", end, claimed))
		w.WriteHeader(http.StatusPartialContent)
		w.Write(testData[:end+1])
	})
	f, err := open(t, s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if f.Size() != claimed {
		t.Fatalf("size %d", f.Size())
	}
	_, err = f.ReadAt(make([]byte, 22), claimed-22)
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 416 {
		t.Fatalf("got %v, want the server's 416", err)
	}
}

// TestStallAndCancel: a server that sends headers then nothing is a
// timeout error; a cancelled context stops a read at once.
func TestStallAndCancel(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	var calls atomic.Int64
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			serveData(w, r)
			return
		}
		var start, end int64
		fmt.Sscanf(r.Header.Get("Range"), "bytes=%d-%d", &start, &end)
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end, len(testData)))
		w.Header().Set("Content-Length", fmt.Sprint(end-start+1))
		w.WriteHeader(http.StatusPartialContent)
		http.NewResponseController(w).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	f, err := open(t, s, Options{Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = f.ReadAt(make([]byte, 1000), 8192)
	if err == nil || !strings.Contains(err.Error(), "within") {
		t.Fatalf("got %v, want a time-out error", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("stall noticed after %v", d)
	}

	ctx, cancel := context.WithCancel(context.Background())
	calls.Store(0)
	f, err = Open(ctx, s.URL+"/f.bin", Options{Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(100*time.Millisecond, cancel)
	start = time.Now()
	_, err = f.ReadAt(make([]byte, 1000), 8192)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("cancel took %v", d)
	}
}

// TestChangedFile: a file replaced on the server after Open (another
// ETag) is an error, not a splice of two versions.
func TestChangedFile(t *testing.T) {
	var version atomic.Int64
	version.Store(1)
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		data := testData
		if version.Load() == 2 {
			data = bytes.Repeat([]byte{7}, len(testData))
		}
		w.Header().Set("ETag", fmt.Sprintf(`"v%d"`, version.Load()))
		http.ServeContent(w, r, "f.bin", time.Time{}, bytes.NewReader(data))
	})
	f, err := open(t, s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	version.Store(2)
	_, err = f.ReadAt(make([]byte, 100), 500_000)
	if err == nil || !strings.Contains(err.Error(), "changed") {
		t.Fatalf("got %v, want a changed-file error", err)
	}
}

func TestStatusAndRedact(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", http.StatusForbidden) })
	_, err := Open(context.Background(), s.URL+"/f.bin?token=secret", Options{})
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 403 {
		t.Fatalf("got %v, want a 403 StatusError", err)
	}
	if strings.Contains(err.Error(), "secret") {
		t.Errorf("%q shows the query string", err)
	}
}

func (w counting) Unwrap() http.ResponseWriter { return w.ResponseWriter }
