package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sync"

	"github.com/glipctl/glipctl/internal/ckpt"
	"github.com/glipctl/glipctl/internal/ckpt/formats"
	"github.com/glipctl/glipctl/internal/remote"
	"github.com/glipctl/glipctl/internal/zoo"
)

// inspectOpen opens what an inspect argument names: an http(s) URL is read
// with Range requests (the header, and with --stats the tensors reported;
// never the rest), anything else is resolved (a file or a zoo name) and
// opened.
func inspectOpen(ctx context.Context, opts *inspectOptions, name string) (*ckpt.Checkpoint, error) {
	if !remote.IsURL(name) {
		path, err := opts.Resolve(ctx, name)
		if err != nil {
			return nil, err
		}
		return formats.Open(path, ckpt.OpenOptions{Strict: opts.Strict})
	}
	zo := opts.Zoo
	zo.SetOutput(opts.IO.ErrOut, opts.IO.ErrTTY, false)
	download := func() (*ckpt.Checkpoint, error) {
		o, err := zo.Options()
		if err != nil {
			return nil, err
		}
		path, err := zoo.FetchURL(ctx, name, o)
		if err != nil {
			return nil, err
		}
		return formats.Open(path, ckpt.OpenOptions{Strict: opts.Strict})
	}
	if opts.Download {
		// A copy downloaded before is used (and is all there is offline).
		o, err := zo.Options()
		if err != nil {
			return nil, err
		}
		if p, err := zoo.URLPath(o.CacheDir, name); err == nil && (zo.IsOffline() || fileExists(p)) {
			return download()
		}
	}
	if zo.IsOffline() {
		return nil, fmt.Errorf("%s: offline mode forbids reading a URL (with --download, a copy in the cache is used)", remote.Redact(name))
	}
	ro := opts.Remote
	if ro.Client == nil {
		ro.Client = remoteClient()
	}
	if ro.UserAgent == "" {
		ro.UserAgent = "glipctl/" + version
	}
	// --timeout bounds the whole remote read, --stats included.
	rctx, cancel := context.WithCancel(ctx)
	if t := opts.Zoo.Timeout; t > 0 {
		cancel()
		rctx, cancel = context.WithTimeoutCause(ctx, t, fmt.Errorf("not read within the time limit of %v (--timeout)", t))
	}
	opened := false // else the context is released on return
	defer func() {
		if !opened {
			cancel()
		}
	}()
	f, err := remote.Open(rctx, name, ro)
	var nr *remote.NoRangeError
	switch {
	case errors.As(err, &nr) && opts.Download:
		return download()
	case errors.As(err, &nr):
		return nil, fmt.Errorf("%w: use --download to download it into the cache and inspect it there", err)
	case err != nil:
		return nil, err
	}
	head := make([]byte, 4)
	if n, _ := f.ReadAt(head, 0); n == 4 && string(head) == "PK\x03\x04" {
		f.WarmZip(zipWarmers)
	}
	c, err := formats.Read(f, f.Size(), remote.Redact(name), ckpt.OpenOptions{Strict: opts.Strict})
	if ferr := f.Err(); err != nil && ferr != nil {
		return nil, ferr // the transfer failed, not the format
	}
	if err != nil {
		return nil, err
	}
	opened = true
	c.Closer = closeFunc(func() error { cancel(); return f.Close() })
	return c, nil
}

// zipWarmers is how many requests for a zip's entry headers are under way
// at once.
const zipWarmers = 8

// remoteClient is the downloads' client (proxies, redirect rules) keeping
// as many idle HTTP/1.1 connections per host as there are zip warmers, so
// that each concurrent request does not open (and handshake) a new one.
var remoteClient = sync.OnceValue(func() *http.Client {
	c := *zoo.DefaultClient()
	if tr, ok := c.Transport.(*http.Transport); ok {
		tr = tr.Clone()
		tr.MaxIdleConnsPerHost = zipWarmers
		c.Transport = tr
	}
	return &c
})

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// closeFunc is an io.Closer.
type closeFunc func() error

func (c closeFunc) Close() error { return c() }
