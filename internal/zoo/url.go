package zoo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/glipctl/glipctl/internal/digest"
)

// URLsDir is the directory of the cache (under the cache directory dir)
// that FetchURL downloads arbitrary URLs into.
func URLsDir(dir string) string { return filepath.Join(dir, "urls") }

// URLPath is where FetchURL keeps the file of rawURL:
// <cache>/urls/<first 16 hex digits of the URL's SHA-256>/<the URL path's
// base name>.
func URLPath(dir, rawURL string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%s: not an http(s) URL", rawURL)
	}
	base := path.Base(u.Path)
	if base == "/" || base == "." || base == ".." || base == "" || strings.ContainsAny(base, "\\\x00") {
		base = "file"
	}
	for _, suffix := range []string{".part", ".part.meta", ".lock"} {
		if strings.HasSuffix(base, suffix) {
			base += ".file"
		}
	}
	h := sha256.Sum256([]byte(rawURL))
	return filepath.Join(URLsDir(dir), hex.EncodeToString(h[:8]), base), nil
}

// FetchURL downloads the file at rawURL into the cache (see URLPath) and
// returns its path; a file already there is used as it is, verified
// against the manifest. It follows Fetch's rules (a lock, a resumable
// .part, opts.Offline, opts.Timeout, opts.SHA256) except that no hash is
// published: the SHA-256 is logged and recorded in the manifest.
func FetchURL(ctx context.Context, rawURL string, opts ResolveOptions) (string, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	if err := opts.Validate(); err != nil {
		return "", err
	}
	if opts.CacheDir == "" {
		return "", fmt.Errorf("%s: %w", rawURL, errNoCacheDir)
	}
	final, err := URLPath(opts.CacheDir, rawURL)
	if err != nil {
		return "", err
	}
	c := &cache{dir: opts.CacheDir}
	want := strings.ToLower(opts.SHA256)
	co := checkOptions{want: want, wantWhy: "pinned; delete the file to download it again", full: opts.Verify, url: rawURL, log: opts.Log}
	if isFile(final) {
		if _, err := c.check(ctx, final, co); err != nil {
			return "", err
		}
		return final, nil
	}
	if opts.Offline {
		return "", &OfflineError{File: rawURL, Dir: opts.CacheDir}
	}
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return "", localError("creating the cache", filepath.Dir(final), err)
	}
	if opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, opts.Timeout, &TimeLimitError{File: path.Base(final), Limit: opts.Timeout})
		defer cancel()
	}
	unlock, err := lockFile(ctx, final+".lock", func() {
		opts.logf("waiting for another glipctl downloading %s (lock %s.lock)", rawURL, final)
	})
	switch {
	case errors.Is(err, errNoLocking):
		opts.logf("warning: %v; downloading without a lock", err)
	case err != nil:
		return "", err
	default:
		defer unlock()
	}
	if isFile(final) {
		if _, err := c.check(ctx, final, co); err != nil {
			return "", err
		}
		return final, nil
	}
	d := Downloader{}
	if opts.Downloader != nil {
		d = *opts.Downloader
	}
	if d.Progress == nil {
		d.Progress = opts.Progress
	}
	if d.Log == nil {
		d.Log = opts.Log
	}
	d.RequireValidator = want == ""
	part := final + ".part"
	opts.logf("downloading %s", rawURL)
	if err := d.Download(ctx, rawURL, part); err != nil {
		var tl *TimeLimitError
		if errors.As(context.Cause(ctx), &tl) {
			return "", tl
		}
		return "", fmt.Errorf("download %s: %w", rawURL, err)
	}
	hashed, err := os.Stat(part)
	if err != nil {
		return "", localError("reading", part, err)
	}
	hd, err := digest.Cache{}.File(ctx, part)
	if err != nil {
		return "", err
	}
	if want != "" && !strings.HasPrefix(hd.SHA256, want) {
		os.Remove(part)
		os.Remove(MetaPath(part))
		return "", &HashMismatchError{File: rawURL, Expected: want, Actual: hd.SHA256, Why: "pinned; partial file removed"}
	}
	if err := os.Rename(part, final); err != nil {
		return "", localError("renaming", part, err)
	}
	os.Remove(MetaPath(part))
	syncDir(filepath.Dir(final))
	st, err := os.Stat(final)
	if err != nil {
		return "", err
	}
	if err := c.record(ctx, c.key(final), manifestFile{SHA256: hd.SHA256, Size: st.Size(), MTime: st.ModTime(), URL: rawURL}); err != nil {
		opts.logf("warning: could not record %s in %s: %v", final, c.manifestPath(), err)
	}
	_ = c.digests().Record(final, hd.SHA256, hashed)
	opts.logf("%s: sha256 %s (recorded in %s)", final, hd.SHA256, c.manifestPath())
	return final, nil
}
