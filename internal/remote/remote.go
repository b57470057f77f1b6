// Package remote reads a file over HTTP(S) with Range requests, as an
// io.ReaderAt of known size, so that the checkpoint readers (which all take
// an io.ReaderAt and a size) read a remote file's header without fetching
// its weights.
//
// Open asks for the file's first block with "Range: bytes=0-N" and learns
// the file's size from the 206 answer's Content-Range. A server that
// answers 200 (it ignores Range) is a *NoRangeError before any of the body
// is read; any other status is a *StatusError.
//
// Every later read is a Range request for exactly the bytes wanted, rounded
// out to whole blocks (Options.BlockSize) for small reads, which are kept
// in a small LRU cache (Options.CacheSize). A small read that continues
// where the previous one ended fetches more ahead of it, doubling up to
// Options.MaxReadAhead; a read at another place fetches one block. Large
// reads (a tensor's bytes) go straight into the caller's buffer, uncached.
//
// Every answer is checked before its body is used: the status must be 206,
// the Content-Range must be the range asked for and the same total size as
// at Open, the Content-Length (if sent) the range's length, and the body
// must hold all of it; the body is read into a buffer of the range's length
// (never a size the server names) and no further. A response that differs
// is a *ResponseError; a file changed on the server (its validator or
// size) is caught by If-Range and by the size check. Each request is bound
// by the context given to Open and by Options.Timeout, so a server that
// stalls is an error, never a hang.
package remote

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of Options.
const (
	DefaultBlockSize    = 4 << 10
	DefaultCacheSize    = 16 << 20
	DefaultMaxReadAhead = 1 << 20
	DefaultTimeout      = 60 * time.Second
	// maxRequest bounds the bytes one request asks for; larger reads are
	// split.
	maxRequest = 16 << 20
)

// Options say how a remote file is read. The zero value is usable.
type Options struct {
	// Client does the requests; nil means http.DefaultClient (proxies from
	// the environment, redirects followed).
	Client *http.Client
	// BlockSize is the unit of small reads and of the cache.
	BlockSize int
	// CacheSize bounds the bytes of cached blocks.
	CacheSize int
	// MaxReadAhead bounds the bytes a sequential small read fetches ahead.
	MaxReadAhead int
	// Timeout bounds each request, from sending it to the end of its body;
	// 0 means DefaultTimeout.
	Timeout time.Duration
	// UserAgent is sent if set.
	UserAgent string
}

func (o *Options) defaults() {
	if o.Client == nil {
		o.Client = http.DefaultClient
	}
	if o.BlockSize <= 0 {
		o.BlockSize = DefaultBlockSize
	}
	if o.CacheSize <= 0 {
		o.CacheSize = DefaultCacheSize
	}
	if o.MaxReadAhead < 0 {
		o.MaxReadAhead = 0
	} else if o.MaxReadAhead == 0 {
		o.MaxReadAhead = DefaultMaxReadAhead
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
}

// IsURL reports whether s is an http or https URL.
func IsURL(s string) bool {
	return strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "http://")
}

// NoRangeError is a server that does not answer Range requests (it sent
// the whole file, status 200): the file can only be downloaded whole.
type NoRangeError struct {
	URL string
}

func (e *NoRangeError) Error() string {
	return fmt.Sprintf("%s: the server does not answer Range requests (it sends the whole file)", Redact(e.URL))
}

// StatusError is an HTTP status other than the one expected.
type StatusError struct {
	URL    string
	Status string
	Code   int
}

func (e *StatusError) Error() string { return fmt.Sprintf("%s: %s", Redact(e.URL), e.Status) }

// ResponseError is an answer that does not match its request: a wrong
// Content-Range or Content-Length, a truncated body, a changed file.
type ResponseError struct {
	URL     string
	Problem string
}

func (e *ResponseError) Error() string { return Redact(e.URL) + ": " + e.Problem }

// Redact returns u without its query string and user info (which may hold
// credentials), for messages.
func Redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	p.User, p.RawQuery, p.Fragment = nil, "", ""
	return p.String()
}

// File is a remote file read with Range requests. It is safe for
// concurrent use.
type File struct {
	ctx       context.Context
	url       string
	size      int64
	validator string // If-Range value: a strong ETag, else Last-Modified
	opts      Options

	fetched  atomic.Int64
	requests atomic.Int64
	// failed is the first error of a read: every later read returns it
	// (after a wrong answer nothing more of the file is trusted).
	failed atomic.Pointer[error]

	mu      sync.Mutex
	blocks  map[int64]*list.Element // block index -> element of lru
	lru     *list.List              // of *block, most recent first
	cached  int
	nextOff int64 // where the last small read ended
	ahead   int   // current read-ahead
}

type block struct {
	idx  int64
	data []byte
}

// Open opens the file at rawURL, fetching its first block. ctx bounds
// every later read too (cancel it to stop them).
func Open(ctx context.Context, rawURL string, opts Options) (*File, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	opts.defaults()
	if !IsURL(rawURL) {
		return nil, fmt.Errorf("%s: not an http(s) URL", rawURL)
	}
	f := &File{ctx: ctx, url: rawURL, opts: opts, blocks: map[int64]*list.Element{}, lru: list.New()}
	n := int64(opts.BlockSize)
	resp, cancel, err := f.get(0, n-1, true)
	if err != nil {
		return nil, err
	}
	defer cancel()
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusPartialContent:
	case resp.StatusCode == http.StatusOK:
		return nil, &NoRangeError{URL: rawURL}
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		return nil, &ResponseError{URL: rawURL, Problem: "the file is empty (416 for its first byte)"}
	default:
		return nil, &StatusError{URL: rawURL, Status: resp.Status, Code: resp.StatusCode}
	}
	start, end, total, err := parseContentRange(resp.Header.Get("Content-Range"))
	if err != nil {
		return nil, &ResponseError{URL: rawURL, Problem: err.Error()}
	}
	if start != 0 || end >= n || end != min(n, total)-1 {
		return nil, &ResponseError{URL: rawURL, Problem: fmt.Sprintf("asked for bytes 0-%d, got Content-Range %q", n-1, resp.Header.Get("Content-Range"))}
	}
	f.size = total
	if et := resp.Header.Get("ETag"); et != "" && !strings.HasPrefix(et, "W/") {
		f.validator = et
	} else if lm := resp.Header.Get("Last-Modified"); lm != "" {
		f.validator = lm
	}
	buf := make([]byte, end+1)
	if err := f.body(resp, buf, 0); err != nil {
		return nil, err
	}
	f.put(0, buf)
	return f, nil
}

// Size is the file's size, from the first answer's Content-Range.
func (f *File) Size() int64 { return f.size }

// URL is the file's URL.
func (f *File) URL() string { return f.url }

// Fetched returns the bytes of response bodies read so far and the number
// of requests made.
func (f *File) Fetched() (bytes, requests int64) { return f.fetched.Load(), f.requests.Load() }

// Close drops the cache. It does not stop reads under way (cancel the
// context given to Open for that).
func (f *File) Close() error {
	f.mu.Lock()
	f.blocks, f.lru, f.cached = map[int64]*list.Element{}, list.New(), 0
	f.mu.Unlock()
	return nil
}

// Err returns the first error a read of f met (nil if none): a reader
// that failed on it reports this rather than a format problem.
func (f *File) Err() error {
	if e := f.failed.Load(); e != nil {
		return *e
	}
	return nil
}

// ReadAt reads len(p) bytes at off; a read past the end is short with
// io.EOF, as io.ReaderAt says. After an error every read returns it.
func (f *File) ReadAt(p []byte, off int64) (int, error) {
	if err := f.Err(); err != nil {
		return 0, err
	}
	n, err := f.readAt(p, off)
	if err != nil && err != io.EOF {
		f.failed.CompareAndSwap(nil, &err)
	}
	return n, err
}

func (f *File) readAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("%s: read at negative offset %d", Redact(f.url), off)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if off >= f.size {
		return 0, io.EOF
	}
	want := p
	if rest := f.size - off; int64(len(want)) > rest {
		want = want[:rest]
	}
	var err error
	if len(want) >= 64*f.opts.BlockSize {
		err = f.direct(want, off)
	} else {
		err = f.cachedRead(want, off)
	}
	if err != nil {
		return 0, err
	}
	if len(want) < len(p) {
		return len(want), io.EOF
	}
	return len(p), nil
}

// direct fetches p's bytes at off into p, in requests of at most
// maxRequest bytes.
func (f *File) direct(p []byte, off int64) error {
	for len(p) > 0 {
		n := min(len(p), maxRequest)
		if err := f.fetch(p[:n], off); err != nil {
			return err
		}
		p, off = p[n:], off+int64(n)
	}
	return nil
}

// cachedRead serves a small read from cached blocks, fetching the missing
// ones (and the read-ahead) in one request.
func (f *File) cachedRead(p []byte, off int64) error {
	bs := int64(f.opts.BlockSize)
	first, last := off/bs, (off+int64(len(p))-1)/bs
	f.mu.Lock()
	sequential := off == f.nextOff
	f.nextOff = off + int64(len(p))
	if sequential {
		f.ahead = min(max(2*f.ahead, f.opts.BlockSize), f.opts.MaxReadAhead)
	} else {
		f.ahead = 0
	}
	ahead := f.ahead
	lo, hi := int64(-1), int64(-1) // missing blocks to fetch
	for i := first; i <= last; i++ {
		if _, ok := f.blocks[i]; !ok {
			if lo < 0 {
				lo = i
			}
			hi = i
		}
	}
	if lo >= 0 && ahead > 0 {
		// Extend to the read-ahead, stopping at a cached block.
		lastBlock := (f.size - 1) / bs
		for n := int64(ahead) / bs; n > 0 && hi < lastBlock; n-- {
			if _, ok := f.blocks[hi+1]; ok {
				break
			}
			hi++
		}
	}
	f.mu.Unlock()
	if lo >= 0 {
		start := lo * bs
		end := min((hi+1)*bs, f.size)
		buf := make([]byte, end-start)
		if err := f.fetch(buf, start); err != nil {
			return err
		}
		f.mu.Lock()
		for i := lo; i <= hi; i++ {
			b := buf[(i-lo)*bs : min((i-lo+1)*bs, int64(len(buf)))]
			f.putLocked(i, b)
		}
		f.mu.Unlock()
	}
	// Copy out; a block evicted meanwhile (a tiny cache under concurrent
	// reads) is fetched again.
	for len(p) > 0 {
		i := off / bs
		f.mu.Lock()
		el, ok := f.blocks[i]
		var data []byte
		if ok {
			f.lru.MoveToFront(el)
			data = el.Value.(*block).data
		}
		f.mu.Unlock()
		if !ok {
			data = make([]byte, min(bs, f.size-i*bs))
			if err := f.fetch(data, i*bs); err != nil {
				return err
			}
			f.put(i, data)
		}
		k := copy(p, data[off-i*bs:])
		p, off = p[k:], off+int64(k)
	}
	return nil
}

func (f *File) put(i int64, data []byte) {
	f.mu.Lock()
	f.putLocked(i, data)
	f.mu.Unlock()
}

func (f *File) putLocked(i int64, data []byte) {
	if el, ok := f.blocks[i]; ok {
		f.lru.MoveToFront(el)
		return
	}
	f.blocks[i] = f.lru.PushFront(&block{idx: i, data: data})
	f.cached += len(data)
	for f.cached > f.opts.CacheSize && f.lru.Len() > 1 {
		el := f.lru.Back()
		b := el.Value.(*block)
		f.lru.Remove(el)
		delete(f.blocks, b.idx)
		f.cached -= len(b.data)
	}
}

// fetch reads exactly len(p) bytes at off (within the file) into p with
// one Range request.
func (f *File) fetch(p []byte, off int64) error {
	end := off + int64(len(p)) - 1
	resp, cancel, err := f.get(off, end, false)
	if err != nil {
		return err
	}
	defer cancel()
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusPartialContent:
	case http.StatusOK:
		if f.validator != "" {
			return &ResponseError{URL: f.url, Problem: "the file changed on the server since it was opened (If-Range answered with the whole file)"}
		}
		return &NoRangeError{URL: f.url}
	default:
		return &StatusError{URL: f.url, Status: resp.Status, Code: resp.StatusCode}
	}
	cr := resp.Header.Get("Content-Range")
	s, e, total, err := parseContentRange(cr)
	if err != nil {
		return &ResponseError{URL: f.url, Problem: err.Error()}
	}
	if total != f.size {
		return &ResponseError{URL: f.url, Problem: fmt.Sprintf("the file's size changed from %d to %d bytes on the server", f.size, total)}
	}
	if s != off || e != end {
		return &ResponseError{URL: f.url, Problem: fmt.Sprintf("asked for bytes %d-%d, got Content-Range %q", off, end, cr)}
	}
	return f.body(resp, p, off)
}

// body reads a 206 body into p (its announced range starts at off),
// checking Content-Length and that the body holds all of p.
func (f *File) body(resp *http.Response, p []byte, off int64) error {
	if cl := resp.ContentLength; cl >= 0 && cl != int64(len(p)) {
		return &ResponseError{URL: f.url, Problem: fmt.Sprintf("Content-Length %d for a range of %d bytes at %d", cl, len(p), off)}
	}
	n, err := io.ReadFull(resp.Body, p)
	f.fetched.Add(int64(n))
	if err != nil {
		if ctxErr := context.Cause(f.ctx); ctxErr != nil {
			return fmt.Errorf("%s: %w", Redact(f.url), ctxErr)
		}
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return &ResponseError{URL: f.url, Problem: fmt.Sprintf("truncated response: %d of %d bytes at %d", n, len(p), off)}
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return &ResponseError{URL: f.url, Problem: fmt.Sprintf("no complete answer within %v (%d of %d bytes at %d)", f.opts.Timeout, n, len(p), off)}
		}
		return fmt.Errorf("%s: reading %d bytes at %d: %w", Redact(f.url), len(p), off, err)
	}
	return nil
}

// get sends a GET for bytes start..end; the caller closes the body and
// calls cancel.
func (f *File) get(start, end int64, first bool) (*http.Response, context.CancelFunc, error) {
	if err := context.Cause(f.ctx); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", Redact(f.url), err)
	}
	ctx, cancel := context.WithTimeout(f.ctx, f.opts.Timeout)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.url, nil)
	if err != nil {
		cancel()
		return nil, nil, fmt.Errorf("%s: %w", Redact(f.url), err)
	}
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", start, end))
	// An encoded body would not be the file's bytes.
	req.Header.Set("Accept-Encoding", "identity")
	if f.opts.UserAgent != "" {
		req.Header.Set("User-Agent", f.opts.UserAgent)
	}
	if !first && f.validator != "" {
		req.Header.Set("If-Range", f.validator)
	}
	f.requests.Add(1)
	resp, err := f.opts.Client.Do(req)
	if err != nil {
		cancel()
		if ctxErr := context.Cause(f.ctx); ctxErr != nil {
			return nil, nil, fmt.Errorf("%s: %w", Redact(f.url), ctxErr)
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, nil, &ResponseError{URL: f.url, Problem: fmt.Sprintf("no answer within %v", f.opts.Timeout)}
		}
		return nil, nil, fmt.Errorf("%s: %w", Redact(f.url), unwrapURLError(err))
	}
	if resp.Header.Get("Content-Encoding") != "" && resp.Header.Get("Content-Encoding") != "identity" {
		resp.Body.Close()
		cancel()
		return nil, nil, &ResponseError{URL: f.url, Problem: fmt.Sprintf("the server sent an encoded body (Content-Encoding %q)", resp.Header.Get("Content-Encoding"))}
	}
	return resp, cancel, nil
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// parseContentRange parses "bytes START-END/TOTAL" with a known total.
func parseContentRange(s string) (start, end, total int64, err error) {
	bad := func() (int64, int64, int64, error) {
		return 0, 0, 0, fmt.Errorf("bad Content-Range %q", s)
	}
	rest, ok := strings.CutPrefix(s, "bytes ")
	if !ok {
		return bad()
	}
	rng, tot, ok := strings.Cut(rest, "/")
	if !ok {
		return bad()
	}
	a, b, ok := strings.Cut(rng, "-")
	if !ok {
		return bad()
	}
	if start, err = strconv.ParseInt(a, 10, 64); err != nil || start < 0 {
		return bad()
	}
	if end, err = strconv.ParseInt(b, 10, 64); err != nil || end < start {
		return bad()
	}
	if tot == "*" {
		return 0, 0, 0, fmt.Errorf("Content-Range %q gives no total size", s)
	}
	if total, err = strconv.ParseInt(tot, 10, 64); err != nil || end >= total {
		return bad()
	}
	return start, end, total, nil
}
