package zoo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of a Downloader's zero fields.
const (
	DefaultRetries      = 5
	DefaultBackoff      = time.Second
	DefaultMaxBackoff   = 30 * time.Second
	DefaultStallTimeout = 60 * time.Second
)

// Progress is one report of a download's progress.
type Progress struct {
	File  string // the file's base name
	URL   string // the URL being fetched
	Done  int64  // bytes in the partial file so far
	Total int64  // the file's size, -1 when the server does not say
	Final bool   // the last report of this attempt
}

// ProgressFunc receives progress reports: one when a response arrives,
// one per chunk read, and a Final one when an attempt ends.
type ProgressFunc func(Progress)

// Downloader fetches a URL into a partial file, resuming with HTTP Range
// requests. Its zero value is ready to use; tests set short timeouts.
type Downloader struct {
	// Client does the requests; nil uses a client whose transport honours
	// the proxy environment (http.ProxyFromEnvironment) and which follows
	// redirects.
	Client *http.Client
	// Retries is how many times a failed attempt is retried (network
	// errors, stalls, 408, 429, 5xx); 0 means DefaultRetries, negative
	// none. The count restarts when an attempt received data.
	Retries int
	// Backoff is the delay before the first retry, doubled for each further
	// one up to MaxBackoff; 0 means the defaults.
	Backoff    time.Duration
	MaxBackoff time.Duration
	// StallTimeout fails an attempt that receives no data for this long
	// (waiting for headers or for body bytes); 0 means DefaultStallTimeout.
	StallTimeout time.Duration
	// Progress, if set, receives progress reports.
	Progress ProgressFunc
	// Log, if set, receives a line for each retry.
	Log io.Writer
	// UserAgent is sent with each request; "" sends "glipctl".
	UserAgent string
}

var (
	defaultClientOnce sync.Once
	defaultClient     *http.Client
)

// DefaultClient is the client a Downloader uses when its Client is nil:
// http.DefaultTransport's settings (proxies from the environment, dial and
// TLS timeouts), redirects followed (up to 10).
func DefaultClient() *http.Client {
	defaultClientOnce.Do(func() {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.Proxy = http.ProxyFromEnvironment
		defaultClient = &http.Client{Transport: tr}
	})
	return defaultClient
}

// permanentError is a failure that retrying will not fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// StatusError is an HTTP response with an unexpected status.
type StatusError struct {
	URL    string
	Code   int
	Status string
}

func (e *StatusError) Error() string { return fmt.Sprintf("GET %s: %s", e.URL, e.Status) }

// Download fetches rawURL into the file part. If part already holds bytes
// (an interrupted download), it asks for the rest with a Range request; a
// server that answers 200 instead of 206 is read from the start, and the
// file truncated. It returns when part holds the whole body, synced to
// disk. It does not verify or rename anything: that is the caller's job.
func (d *Downloader) Download(ctx context.Context, rawURL, part string) error {
	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	retries := d.Retries
	if retries == 0 {
		retries = DefaultRetries
	} else if retries < 0 {
		retries = 0
	}
	backoff, maxBackoff := d.Backoff, d.MaxBackoff
	if backoff <= 0 {
		backoff = DefaultBackoff
	}
	if maxBackoff <= 0 {
		maxBackoff = DefaultMaxBackoff
	}
	failures := 0
	for {
		progressed, err := d.attempt(ctx, f, rawURL)
		if err == nil {
			if err := f.Sync(); err != nil {
				return fmt.Errorf("%s: %v", part, err)
			}
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("GET %s: %w", rawURL, ctx.Err())
		}
		var perm *permanentError
		if errors.As(err, &perm) {
			return perm.err
		}
		if progressed {
			failures = 0
		}
		failures++
		if failures > retries {
			if retries == 0 {
				return err
			}
			return fmt.Errorf("%w (gave up after %d retries)", err, retries)
		}
		delay := backoff
		for i := 1; i < failures && delay < maxBackoff; i++ {
			delay *= 2
		}
		delay = min(delay, maxBackoff)
		if d.Log != nil {
			fmt.Fprintf(d.Log, "%v; retrying in %v\n", err, delay)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("GET %s: %w", rawURL, ctx.Err())
		case <-t.C:
		}
	}
}

// attempt makes one request and appends what it receives to f. It reports
// whether any body bytes arrived.
func (d *Downloader) attempt(ctx context.Context, f *os.File, rawURL string) (progressed bool, err error) {
	st, err := f.Stat()
	if err != nil {
		return false, &permanentError{err}
	}
	offset := st.Size()
	stall := d.StallTimeout
	if stall <= 0 {
		stall = DefaultStallTimeout
	}
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	var stalled atomic.Bool
	timer := time.AfterFunc(stall, func() {
		stalled.Store(true)
		cancel()
	})
	defer timer.Stop()
	stallErr := func() error {
		return fmt.Errorf("GET %s: stalled: no data for %v", rawURL, stall)
	}

	req, err := http.NewRequestWithContext(actx, http.MethodGet, rawURL, nil)
	if err != nil {
		return false, &permanentError{fmt.Errorf("GET %s: %v", rawURL, err)}
	}
	ua := d.UserAgent
	if ua == "" {
		ua = "glipctl"
	}
	req.Header.Set("User-Agent", ua)
	// No transparent gzip: byte offsets must be those of the file.
	req.Header.Set("Accept-Encoding", "identity")
	if offset > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", offset))
	}
	client := d.Client
	if client == nil {
		client = DefaultClient()
	}
	resp, err := client.Do(req)
	if err != nil {
		if stalled.Load() {
			return false, stallErr()
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return false, fmt.Errorf("GET %s: %v", rawURL, err)
	}
	defer resp.Body.Close()
	restart := func() error {
		if err := f.Truncate(0); err != nil {
			return &permanentError{fmt.Errorf("%s: %v", f.Name(), err)}
		}
		offset = 0
		return nil
	}

	total := int64(-1)
	switch code := resp.StatusCode; {
	case code == http.StatusPartialContent:
		start, size, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok || start != offset {
			if err := restart(); err != nil {
				return false, err
			}
			return false, fmt.Errorf("GET %s: Content-Range %q does not answer Range bytes=%d-; restarting from the beginning", rawURL, resp.Header.Get("Content-Range"), st.Size())
		}
		total = size
	case code == http.StatusOK:
		if offset > 0 {
			// The server ignored Range: start over.
			if err := restart(); err != nil {
				return false, err
			}
		}
		total = resp.ContentLength
	case code == http.StatusRequestedRangeNotSatisfiable && offset > 0:
		if _, size, ok := parseContentRange(resp.Header.Get("Content-Range")); ok && size == offset {
			return false, nil // the partial file is already complete
		}
		if err := restart(); err != nil {
			return false, err
		}
		return false, fmt.Errorf("GET %s: %s for Range bytes=%d-; restarting from the beginning", rawURL, resp.Status, st.Size())
	case code == http.StatusRequestTimeout, code == http.StatusTooManyRequests, code >= 500:
		return false, &StatusError{URL: rawURL, Code: code, Status: resp.Status}
	default:
		return false, &permanentError{&StatusError{URL: rawURL, Code: code, Status: resp.Status}}
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return false, &permanentError{fmt.Errorf("%s: %v", f.Name(), err)}
	}
	name := strings.TrimSuffix(filepath.Base(f.Name()), ".part")
	report := func(final bool) {
		if d.Progress != nil {
			d.Progress(Progress{File: name, URL: rawURL, Done: offset, Total: total, Final: final})
		}
	}
	report(false)
	defer report(true)
	buf := make([]byte, 256<<10)
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			timer.Reset(stall)
			if _, werr := f.Write(buf[:n]); werr != nil {
				return progressed, &permanentError{fmt.Errorf("%s: %v", f.Name(), werr)}
			}
			offset += int64(n)
			progressed = true
			report(false)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			if stalled.Load() {
				return progressed, stallErr()
			}
			if errors.Is(rerr, io.ErrUnexpectedEOF) && total >= 0 {
				return progressed, fmt.Errorf("GET %s: connection closed at byte %d of %d", rawURL, offset, total)
			}
			return progressed, fmt.Errorf("GET %s: %v at byte %d", rawURL, rerr, offset)
		}
	}
	if total >= 0 && offset != total {
		return progressed, fmt.Errorf("GET %s: got %d bytes of %d", rawURL, offset, total)
	}
	return progressed, nil
}

// parseContentRange reads "bytes START-END/SIZE" or "bytes */SIZE"; size is
// -1 for "*". start is -1 for "*/SIZE".
func parseContentRange(s string) (start, size int64, ok bool) {
	rest, found := strings.CutPrefix(s, "bytes ")
	if !found {
		return 0, 0, false
	}
	rng, sz, found := strings.Cut(strings.TrimSpace(rest), "/")
	if !found {
		return 0, 0, false
	}
	size = -1
	if sz != "*" {
		v, err := strconv.ParseInt(sz, 10, 64)
		if err != nil || v < 0 {
			return 0, 0, false
		}
		size = v
	}
	if rng == "*" {
		return -1, size, size >= 0
	}
	a, b, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, false
	}
	start, err1 := strconv.ParseInt(a, 10, 64)
	end, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || start < 0 || end < start || (size >= 0 && end >= size) {
		return 0, 0, false
	}
	return start, size, true
}

// RewriteURL replaces the scheme and host of rawURL with those of mirror
// and keeps its path and query. If mirror has a path, it is put in front
// of rawURL's: mirror "http://m:8080/cache" turns
// "https://download.openmmlab.com/a/b.pth" into "http://m:8080/cache/a/b.pth".
// An empty mirror returns rawURL unchanged.
func RewriteURL(rawURL, mirror string) (string, error) {
	if mirror == "" {
		return rawURL, nil
	}
	m, err := ParseMirror(mirror)
	if err != nil {
		return "", err
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("URL %q: %v", rawURL, err)
	}
	u.Scheme = m.Scheme
	u.Host = m.Host
	u.User = m.User
	if p := strings.TrimSuffix(m.Path, "/"); p != "" {
		u.RawPath = strings.TrimSuffix(m.EscapedPath(), "/") + u.EscapedPath()
		u.Path = p + u.Path
	}
	return u.String(), nil
}

// ParseMirror checks a --mirror value: an http(s) URL with a host.
func ParseMirror(mirror string) (*url.URL, error) {
	m, err := url.Parse(mirror)
	if err != nil || (m.Scheme != "http" && m.Scheme != "https") || m.Host == "" || m.RawQuery != "" || m.Fragment != "" {
		return nil, fmt.Errorf("mirror %q: want a base URL like https://host[:port][/path]", mirror)
	}
	return m, nil
}
