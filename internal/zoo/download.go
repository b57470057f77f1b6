package zoo

import (
	"context"
	"encoding/json"
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

	"github.com/glipctl/glipctl/internal/atomicfile"
)

// Defaults of a Downloader's zero fields.
const (
	DefaultRetries      = 3
	DefaultBackoff      = time.Second
	DefaultMaxBackoff   = 30 * time.Second
	DefaultStallTimeout = 15 * time.Second
	DefaultMinRate      = 1024 // bytes per second
	DefaultMaxSize      = 64 << 30
	// maxRedirects is how many redirects one request may follow.
	maxRedirects = 10
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
//
// Bounds. An attempt is stalled when it receives fewer than
// MinRate×StallTimeout bytes in any StallTimeout (nothing at all, or a
// trickle), whether waiting for the response or reading the body. A
// failed attempt that cannot get better is not retried: a 4xx status
// other than 408 and 429, a redirect loop or more than 10 redirects,
// response headers over the transport's limit, a body larger than MaxSize
// or not starting as Head accepts, and any error of the local file system
// (*LocalError). Other failures (network errors, stalls, 408, 429, 5xx, a
// body that ends early) are retried after a growing delay; Retries bounds
// the consecutive failed attempts that did not extend the partial file
// beyond what any earlier attempt reached, or that stalled (so a server
// that restarts from byte 0 each time, or drips, runs out of retries), and
// 4×(Retries+1) bounds all attempts.
//
// Consistency. The size a response announces (Content-Length of a 200,
// the total of a 206's Content-Range) is the file's size: a body that ends
// short of it is an error, a 206 for another range or with another total
// restarts from byte 0, and a 416 completes the partial file only when the
// size it gives is the one announced when the partial file was started.
// That size and the response's validator (a strong ETag, else
// Last-Modified) are kept in a sidecar file, <part>.meta; a resumed
// request sends the validator as If-Range, so a file changed on the server
// comes back whole (200) and replaces the partial one instead of being
// spliced onto it.
type Downloader struct {
	// Client does the requests; nil uses DefaultClient. A client without
	// CheckRedirect gets the downloader's redirect rules.
	Client *http.Client
	// Retries bounds the consecutive failed attempts without progress
	// (see above); 0 means DefaultRetries, negative none.
	Retries int
	// Backoff is the delay before the first retry, doubled for each further
	// one up to MaxBackoff; 0 means the defaults.
	Backoff    time.Duration
	MaxBackoff time.Duration
	// StallTimeout is the window of the stall rule; 0 means
	// DefaultStallTimeout.
	StallTimeout time.Duration
	// MinRate, in bytes per second, is the slowest transfer that is not a
	// stall; 0 means DefaultMinRate, negative only silence is a stall.
	MinRate int64
	// MaxSize bounds the file's size; 0 means DefaultMaxSize.
	MaxSize int64
	// RequireValidator resumes a partial file only when the sidecar holds
	// a validator from the same URL; otherwise the download starts from
	// byte 0. Set it for files no hash will check.
	RequireValidator bool
	// Head, if set, checks the first bytes of the file (up to HeadSize, or
	// fewer if the file is shorter) as soon as they arrive; an error stops
	// the download (not retried).
	Head func(head []byte) error
	// Progress, if set, receives progress reports.
	Progress ProgressFunc
	// Log, if set, receives a line for each retry.
	Log io.Writer
	// UserAgent is sent with each request; "" sends "glipctl".
	UserAgent string
}

// HeadSize is how many bytes Downloader.Head is given.
const HeadSize = 16

var (
	defaultClientOnce sync.Once
	defaultClient     *http.Client
)

// DefaultClient is the client a Downloader uses when its Client is nil:
// http.DefaultTransport's settings (proxies from the environment, dial and
// TLS timeouts), redirects followed (up to 10, never in a loop).
func DefaultClient() *http.Client {
	defaultClientOnce.Do(func() {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.Proxy = http.ProxyFromEnvironment
		defaultClient = &http.Client{Transport: tr, CheckRedirect: checkRedirect}
	})
	return defaultClient
}

// checkRedirect refuses redirect loops and chains longer than maxRedirects.
func checkRedirect(req *http.Request, via []*http.Request) error {
	for _, v := range via {
		if v.URL.String() == req.URL.String() {
			return &permanentError{fmt.Errorf("redirect loop (%s redirects to itself)", shortURL(req.URL.String()))}
		}
	}
	if len(via) >= maxRedirects {
		return &permanentError{fmt.Errorf("stopped after %d redirects", maxRedirects)}
	}
	return nil
}

// permanentError is a failure that retrying will not fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// LocalError is a failure of the local file system (a full disk, a
// read-only or missing directory): no other attempt or mirror can fix it.
type LocalError struct {
	Op   string // "writing", "opening", ...
	Path string
	Err  error // the system's error, without the path
}

func (e *LocalError) Error() string {
	return fmt.Sprintf("%s %s: %v (local file system)", e.Op, e.Path, e.Err)
}
func (e *LocalError) Unwrap() error { return e.Err }

func localError(op, path string, err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return &LocalError{Op: op, Path: path, Err: err}
}

// StatusError is an HTTP response with an unexpected status.
type StatusError struct {
	URL    string
	Code   int
	Status string
}

func (e *StatusError) Error() string { return fmt.Sprintf("%s: %s", shortURL(e.URL), e.Status) }

// shortURL names a URL in an error: its host (the file's name is in the
// message already).
func shortURL(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Host != "" {
		return u.Host
	}
	return raw
}

// partMeta is the sidecar of a partial file: where its bytes came from.
type partMeta struct {
	URL          string `json:"url"`
	ETag         string `json:"etag,omitempty"`
	LastModified string `json:"last_modified,omitempty"`
	Size         int64  `json:"size"` // announced size, -1 if none
}

// MetaPath is the sidecar of the partial file part.
func MetaPath(part string) string { return part + ".meta" }

func loadMeta(part string) partMeta {
	m := partMeta{Size: -1}
	data, err := os.ReadFile(MetaPath(part))
	if err != nil || json.Unmarshal(data, &m) != nil {
		return partMeta{Size: -1}
	}
	return m
}

// validator is the If-Range value for a request of u ("" for none).
func (m partMeta) validator(u string) string {
	if m.URL != u {
		return ""
	}
	if m.ETag != "" && !strings.HasPrefix(m.ETag, "W/") {
		return m.ETag
	}
	return m.LastModified
}

// Download fetches rawURL into the file part (see Downloader for the rules).
// It returns when part holds the whole body, synced to disk. It does not
// verify or rename anything: that is the caller's job.
func (d *Downloader) Download(ctx context.Context, rawURL, part string) error {
	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return localError("opening", part, err)
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
	maxAttempts := 4 * (retries + 1)
	high := fileSize(f)
	failures := 0
	for attempt := 1; ; attempt++ {
		err := d.attempt(ctx, f, rawURL, part)
		if err == nil {
			if err := f.Sync(); err != nil {
				return localError("syncing", part, err)
			}
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", shortURL(rawURL), context.Cause(ctx))
		}
		var perm *permanentError
		if errors.As(err, &perm) {
			return perm.err
		}
		var le *LocalError
		if errors.As(err, &le) {
			return err
		}
		size := fileSize(f)
		var se *stallError
		if size > high && !errors.As(err, &se) {
			failures = 0
		}
		high = max(high, size)
		failures++
		if failures > retries || attempt >= maxAttempts {
			if attempt == 1 {
				return err
			}
			return fmt.Errorf("%w (%d attempts)", err, attempt)
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
			return fmt.Errorf("%s: %w", shortURL(rawURL), context.Cause(ctx))
		case <-t.C:
		}
	}
}

func fileSize(f *os.File) int64 {
	st, err := f.Stat()
	if err != nil {
		return 0
	}
	return st.Size()
}

func (d *Downloader) stall() time.Duration {
	if d.StallTimeout <= 0 {
		return DefaultStallTimeout
	}
	return d.StallTimeout
}

func (d *Downloader) minRate() int64 {
	switch {
	case d.MinRate == 0:
		return DefaultMinRate
	case d.MinRate < 0:
		return 0
	}
	return d.MinRate
}

func (d *Downloader) maxSize() int64 {
	if d.MaxSize <= 0 {
		return DefaultMaxSize
	}
	return d.MaxSize
}

func (d *Downloader) client() *http.Client {
	c := d.Client
	if c == nil {
		return DefaultClient()
	}
	if c.CheckRedirect == nil {
		cp := *c
		cp.CheckRedirect = checkRedirect
		return &cp
	}
	return c
}

// stallError is an attempt stopped by the stall rule.
type stallError struct {
	host   string
	got    int64 // bytes received in the last window
	window time.Duration
	rate   int64
}

func (e *stallError) Error() string {
	if e.got > 0 {
		return fmt.Sprintf("%s: stalled: %d bytes in %v, below the minimum rate of %s/s", e.host, e.got, e.window, HumanBytes(e.rate))
	}
	return fmt.Sprintf("%s: stalled: no data for %v", e.host, e.window)
}

// errStalled is the cause of an attempt cancelled by the stall rule.
var errStalled = errors.New("stalled")

// watchdog cancels an attempt that receives fewer than threshold bytes in
// a window. It reports the bytes of the last window in *last.
type watchdog struct {
	received atomic.Int64
	last     atomic.Int64
	stop     chan struct{}
}

func startWatchdog(window time.Duration, threshold int64, cancel context.CancelCauseFunc) *watchdog {
	w := &watchdog{stop: make(chan struct{})}
	go func() {
		t := time.NewTicker(window)
		defer t.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-t.C:
				n := w.received.Swap(0)
				if n < threshold {
					w.last.Store(n)
					cancel(errStalled)
					return
				}
			}
		}
	}()
	return w
}

// attempt makes one request and writes what it receives to f.
func (d *Downloader) attempt(ctx context.Context, f *os.File, rawURL, part string) error {
	host := shortURL(rawURL)
	offset := fileSize(f)
	meta := loadMeta(part)
	restart := func() error {
		if err := f.Truncate(0); err != nil {
			return localError("truncating", part, err)
		}
		offset = 0
		return nil
	}
	if offset > 0 && d.RequireValidator && meta.validator(rawURL) == "" {
		// Nothing would show these bytes belong to what the server sends now.
		if err := restart(); err != nil {
			return err
		}
	}
	window, rate := d.stall(), d.minRate()
	threshold := max(rate*int64(window)/int64(time.Second), 1)
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	wd := startWatchdog(window, threshold, cancel)
	defer close(wd.stop)
	stallErr := func() error {
		return &stallError{host: host, got: wd.last.Load(), window: window, rate: rate}
	}
	stalled := func() bool { return errors.Is(context.Cause(actx), errStalled) }

	req, err := http.NewRequestWithContext(actx, http.MethodGet, rawURL, nil)
	if err != nil {
		return &permanentError{fmt.Errorf("%s: %v", host, err)}
	}
	ua := d.UserAgent
	if ua == "" {
		ua = "glipctl"
	}
	req.Header.Set("User-Agent", ua)
	// No transparent gzip: byte offsets must be those of the file.
	req.Header.Set("Accept-Encoding", "identity")
	ifRange := ""
	if offset > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", offset))
		if ifRange = meta.validator(rawURL); ifRange != "" {
			req.Header.Set("If-Range", ifRange)
		}
	}
	resp, err := d.client().Do(req)
	if err != nil {
		if stalled() {
			return stallErr()
		}
		var perm *permanentError
		if errors.As(err, &perm) {
			return perm
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if strings.Contains(err.Error(), "server response headers exceeded") {
			return &permanentError{fmt.Errorf("%s: response headers too large", host)}
		}
		return fmt.Errorf("%s: %v", host, err)
	}
	defer resp.Body.Close()

	total := int64(-1)
	fresh := false // the body starts the file afresh
	switch code := resp.StatusCode; {
	case code == http.StatusPartialContent:
		start, end, size, ok := parseContentRange(resp.Header.Get("Content-Range"))
		switch {
		case !ok || start != offset || (size >= 0 && end != size-1):
			err = fmt.Errorf("%s: Content-Range %q does not answer Range bytes=%d-; restarting from byte 0", host, resp.Header.Get("Content-Range"), offset)
		case meta.Size >= 0 && size != meta.Size:
			err = fmt.Errorf("%s: Content-Range total %d differs from the %d bytes announced before; restarting from byte 0", host, size, meta.Size)
		case ifRange != "" && resp.Header.Get("ETag") != "" && strings.HasPrefix(ifRange, `"`) && resp.Header.Get("ETag") != ifRange:
			err = fmt.Errorf("%s: the file changed (ETag %s, was %s) but the server sent a part of it; restarting from byte 0", host, resp.Header.Get("ETag"), ifRange)
		case resp.ContentLength >= 0 && resp.ContentLength != end-start+1:
			err = fmt.Errorf("%s: Content-Length %d does not match Content-Range %q; restarting from byte 0", host, resp.ContentLength, resp.Header.Get("Content-Range"))
		}
		if err != nil {
			if rerr := restart(); rerr != nil {
				return rerr
			}
			os.Remove(MetaPath(part))
			return err
		}
		total = size
		if total < 0 {
			total = meta.Size
		}
		if offset == 0 {
			fresh = true
		}
	case code == http.StatusOK:
		if offset > 0 {
			// The server ignored Range, or If-Range found the file changed:
			// this is the whole file.
			if err := restart(); err != nil {
				return err
			}
		}
		total = resp.ContentLength
		fresh = true
	case code == http.StatusRequestedRangeNotSatisfiable && offset > 0:
		_, _, size, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if ok && size == offset && (meta.Size == size || (meta.Size < 0 && !d.RequireValidator)) {
			return nil // the partial file is already complete
		}
		if err := restart(); err != nil {
			return err
		}
		if ok && meta.Size >= 0 && size != meta.Size {
			return fmt.Errorf("%s: the server now gives the size %d, after announcing %d; restarting from byte 0", host, size, meta.Size)
		}
		return fmt.Errorf("%s: %s for Range bytes=%d-; restarting from byte 0", host, resp.Status, offset)
	case code == http.StatusRequestTimeout, code == http.StatusTooManyRequests, code >= 500:
		return &StatusError{URL: rawURL, Code: code, Status: resp.Status}
	default:
		return &permanentError{&StatusError{URL: rawURL, Code: code, Status: resp.Status}}
	}
	limit := d.maxSize()
	if total > limit {
		return &permanentError{fmt.Errorf("%s: announces %d bytes, more than the %d this file can have", host, total, limit)}
	}
	if fresh || meta.URL != rawURL {
		meta = partMeta{URL: rawURL, Size: total, LastModified: resp.Header.Get("Last-Modified")}
		if et := resp.Header.Get("ETag"); et != "" && !strings.HasPrefix(et, "W/") {
			meta.ETag = et
		}
		data, _ := json.Marshal(meta)
		if err := atomicfile.WriteFile(ctx, MetaPath(part), data, atomicfile.Options{Replace: true, NoSync: true}); err != nil {
			return localError("writing", MetaPath(part), err)
		}
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return localError("seeking in", part, err)
	}
	name := strings.TrimSuffix(filepath.Base(part), ".part")
	report := func(final bool) {
		if d.Progress != nil {
			d.Progress(Progress{File: name, URL: rawURL, Done: offset, Total: total, Final: final})
		}
	}
	report(false)
	defer report(true)
	var head []byte
	checkHead := func(eof bool) error {
		if d.Head == nil || head == nil || (len(head) < HeadSize && !eof) {
			return nil
		}
		h := head
		head = nil
		if err := d.Head(h); err != nil {
			f.Truncate(0) // known garbage: nothing to resume
			return &permanentError{fmt.Errorf("%s: %v", host, err)}
		}
		return nil
	}
	if offset < HeadSize && d.Head != nil {
		head = make([]byte, offset, HeadSize)
		if _, err := f.ReadAt(head, 0); err != nil && offset > 0 {
			return localError("reading", part, err)
		}
	}
	buf := make([]byte, 256<<10)
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			wd.received.Add(int64(n))
			if offset+int64(n) > limit {
				f.Truncate(0) // known garbage: nothing to resume
				return &permanentError{fmt.Errorf("%s: the body exceeds the %d bytes this file can have", host, limit)}
			}
			if total >= 0 && offset+int64(n) > total {
				return &permanentError{fmt.Errorf("%s: the body is longer than the %d bytes announced", host, total)}
			}
			if head != nil {
				head = append(head, buf[:min(n, HeadSize-len(head))]...)
			}
			if err := checkHead(false); err != nil {
				return err
			}
			if _, werr := f.Write(buf[:n]); werr != nil {
				return localError("writing", part, werr)
			}
			offset += int64(n)
			report(false)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			if stalled() {
				return stallErr()
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(rerr, io.ErrUnexpectedEOF) && total >= 0 {
				return fmt.Errorf("%s: connection closed at byte %d of %d", host, offset, total)
			}
			return fmt.Errorf("%s: %v at byte %d", host, rerr, offset)
		}
	}
	if err := checkHead(true); err != nil {
		return err
	}
	if total >= 0 && offset != total {
		return fmt.Errorf("%s: connection closed at byte %d of %d", host, offset, total)
	}
	return nil
}

// parseContentRange reads "bytes START-END/SIZE" or "bytes */SIZE"; size is
// -1 for "*". start and end are -1 for "*/SIZE".
func parseContentRange(s string) (start, end, size int64, ok bool) {
	rest, found := strings.CutPrefix(s, "bytes ")
	if !found {
		return 0, 0, 0, false
	}
	rng, sz, found := strings.Cut(strings.TrimSpace(rest), "/")
	if !found {
		return 0, 0, 0, false
	}
	size = -1
	if sz != "*" {
		v, err := strconv.ParseInt(sz, 10, 64)
		if err != nil || v < 0 {
			return 0, 0, 0, false
		}
		size = v
	}
	if rng == "*" {
		return -1, -1, size, size >= 0
	}
	a, b, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, 0, false
	}
	start, err1 := strconv.ParseInt(a, 10, 64)
	end, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || start < 0 || end < start || (size >= 0 && end >= size) {
		return 0, 0, 0, false
	}
	return start, end, size, true
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

// ParseMirror checks a mirror base URL: an http(s) URL with a host.
func ParseMirror(mirror string) (*url.URL, error) {
	m, err := url.Parse(mirror)
	if err != nil || (m.Scheme != "http" && m.Scheme != "https") || m.Host == "" || m.RawQuery != "" || m.Fragment != "" {
		return nil, fmt.Errorf("mirror %q: want a base URL like https://host[:port][/path]", mirror)
	}
	return m, nil
}

// HumanBytes formats n as "12.3 MiB".
func HumanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
