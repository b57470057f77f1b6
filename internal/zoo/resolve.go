package zoo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/glipctl/glipctl/internal/digest"
)

// OfficialPrefix, in front of a zoo name given to Resolve, selects the
// official GLIP checkpoint instead of the mmpretrain one:
// "official:swin-t_glip-pre_3rdparty" is glip_tiny_model_o365_goldg_cc_sbu.pth.
const OfficialPrefix = "official:"

// ResolveOptions say where Resolve and Fetch look for files and whether
// they may download. They are plain values: the package reads no
// environment variable and no flag (internal/cli fills them from both).
type ResolveOptions struct {
	// CacheDir is the download cache. Fetching a zoo file needs one; an
	// empty CacheDir also disables the digest cache.
	CacheDir string
	// TorchHubDir is torch.hub's checkpoint directory, where a file with a
	// known hash may already be; "" consults none.
	TorchHubDir string
	// Offline forbids the network: a file not already cached is an
	// *OfflineError.
	Offline bool
	// Mirror, if set, replaces the scheme and host of every download URL
	// (see RewriteURL).
	Mirror string
	// Official selects the official GLIP checkpoint of a zoo name, like the
	// "official:" prefix.
	Official bool
	// SHA256 pins the file's SHA-256 (hex, 8 to 64 digits, a prefix is
	// enough): a cached, downloaded or given file must match it.
	SHA256 string
	// Verify re-hashes a cached file even when the manifest's size and
	// modification time match (`glipctl download` sets it).
	Verify bool
	// Lock, if set, pins zoo files to its entries (see Lock): their file
	// names, URLs and SHA-256.
	Lock *Lock
	// Timeout bounds the whole download of a file (every attempt, every
	// mirror); 0 means no bound beyond the Downloader's. A download that
	// runs out of time is a *TimeLimitError and keeps its partial file.
	Timeout time.Duration

	// Registry is the zoo; nil means Default().
	Registry *Registry
	// Downloader does the downloads; nil means a zero Downloader (the
	// defaults). Its Progress and Log are used if set, else those below.
	Downloader *Downloader
	// Progress receives download progress; nil for none.
	Progress ProgressFunc
	// Log receives notes (what is downloaded from where, hashes of files
	// with no published hash, waits for another process); nil for none.
	Log io.Writer
}

// Validate checks the option values a user typed (the mirror and the
// pinned hash). Commands call it first to report these as usage errors;
// Resolve and Fetch call it too.
func (o ResolveOptions) Validate() error {
	if o.Mirror != "" {
		if _, err := ParseMirror(o.Mirror); err != nil {
			return err
		}
	}
	if o.SHA256 != "" {
		s := strings.ToLower(o.SHA256)
		if len(s) < 8 || !hexRE.MatchString(s) {
			return fmt.Errorf("sha256 %q: want 8 to 64 hex digits", o.SHA256)
		}
	}
	if o.Timeout < 0 {
		return fmt.Errorf("timeout %v: want a positive duration (0 for none)", o.Timeout)
	}
	return nil
}

func (o ResolveOptions) registry() *Registry {
	if o.Registry != nil {
		return o.Registry
	}
	return Default()
}

func (o ResolveOptions) logf(format string, a ...any) {
	if o.Log != nil {
		fmt.Fprintf(o.Log, format+"\n", a...)
	}
}

// UnknownModelError is an argument that is neither an existing file nor a
// zoo name.
type UnknownModelError struct {
	Arg   string
	Known []string
}

func (e *UnknownModelError) Error() string {
	return fmt.Sprintf("%s: no such file, and not a zoo model (zoo models: %s; prefix %q for the official GLIP file)",
		e.Arg, strings.Join(e.Known, ", "), OfficialPrefix)
}

// OfflineError is a zoo file that is not cached while the network is
// forbidden.
type OfflineError struct {
	File string // the file's name
	Dir  string // the cache directory searched
}

func (e *OfflineError) Error() string {
	return fmt.Sprintf("%s: not in the cache %s and offline mode forbids downloading it", e.File, e.Dir)
}

// TimeLimitError is a download that did not finish within
// ResolveOptions.Timeout; the partial file is kept for a later resume.
type TimeLimitError struct {
	File  string
	Limit time.Duration
}

func (e *TimeLimitError) Error() string {
	return fmt.Sprintf("download %s: not finished within the time limit of %v; the partial file is kept, run again to resume", e.File, e.Limit)
}

// Resolve turns a command-line argument into the path of a checkpoint:
//
//   - an existing file is returned as is (checked against opts.SHA256 if
//     set); an existing directory is an error;
//   - a zoo name ("swin-t_glip-pre_3rdparty") is the mmpretrain checkpoint,
//     and with the "official:" prefix, or opts.Official, the official GLIP
//     one; it is taken from the cache (or torch hub's cache) and downloaded
//     on first use (see Fetch);
//   - anything else is an *UnknownModelError listing the zoo names.
//
// A file that exists wins over a zoo name of the same spelling. A nil ctx
// means context.Background().
func Resolve(ctx context.Context, nameOrPath string, opts ResolveOptions) (string, error) {
	if err := opts.Validate(); err != nil {
		return "", err
	}
	st, statErr := os.Stat(nameOrPath)
	if statErr == nil {
		if st.IsDir() {
			// A model directory (config.json beside the weights, as
			// transformers and timm write them) is read by formats.OpenDir.
			if _, err := os.Stat(filepath.Join(nameOrPath, "config.json")); err != nil {
				return "", fmt.Errorf("%s: is a directory, not a checkpoint (nor a model directory with config.json)", nameOrPath)
			}
			if opts.SHA256 != "" {
				return "", fmt.Errorf("%s: --sha256 pins a file, not a model directory", nameOrPath)
			}
			return nameOrPath, nil
		}
		if opts.Lock != nil && opts.SHA256 == "" {
			if le, ok := opts.Lock.byFile(filepath.Base(nameOrPath)); ok {
				d, err := opts.Digests().Rehash(ctx, nameOrPath) // a pin always reads the file
				if err != nil {
					return "", err
				}
				if d.SHA256 != le.SHA256 {
					return "", &HashMismatchError{File: nameOrPath, Expected: le.SHA256, Actual: d.SHA256, Why: "locked in " + opts.Lock.where() + " as " + le.Name}
				}
			}
		}
		if opts.SHA256 != "" {
			d, err := opts.Digests().Rehash(ctx, nameOrPath) // a pin always reads the file
			if err != nil {
				return "", err
			}
			if want := strings.ToLower(opts.SHA256); !strings.HasPrefix(d.SHA256, want) {
				return "", &HashMismatchError{File: nameOrPath, Expected: want, Actual: d.SHA256, Why: "pinned"}
			}
		}
		return nameOrPath, nil
	}
	name := nameOrPath
	official := opts.Official
	if rest, ok := strings.CutPrefix(name, OfficialPrefix); ok {
		name, official = rest, true
	}
	reg := opts.registry()
	e, ok := reg.Lookup(name)
	if !ok {
		if !errors.Is(statErr, os.ErrNotExist) {
			return "", statErr
		}
		return "", &UnknownModelError{Arg: nameOrPath, Known: reg.Names()}
	}
	return Fetch(ctx, e, official, opts)
}

// file returns the file of e that official selects.
func entryFile(e Entry, official bool) (File, error) {
	if !official {
		return e.Weights, nil
	}
	if len(e.Official.URLs) == 0 {
		return File{}, fmt.Errorf("%s: the zoo lists no official GLIP file", e.Name)
	}
	return e.Official, nil
}

// CachedPath returns where the file of e (the official one if official)
// is cached, without verifying it: the cache directory, else torch hub's
// cache (only for files with a known hash). It never downloads.
func (o ResolveOptions) CachedPath(e Entry, official bool) (string, bool) {
	f, err := entryFile(e, official)
	if err != nil || o.CacheDir == "" {
		return "", false
	}
	p := filepath.Join(o.CacheDir, f.Name)
	if isFile(p) {
		return p, true
	}
	if f.SHA256 != "" || o.SHA256 != "" {
		if th := o.TorchHubDir; th != "" && isFile(filepath.Join(th, f.Name)) {
			return filepath.Join(th, f.Name), true
		}
	}
	return "", false
}

// Digests returns the SHA-256 cache of the cache directory (see
// DigestsDir), or a Cache that caches nothing when there is no cache
// directory.
func (o ResolveOptions) Digests() digest.Cache {
	if o.CacheDir == "" {
		return digest.Cache{}
	}
	return digest.Cache{Dir: DigestsDir(o.CacheDir)}
}

// RecordedSHA256 returns the SHA-256 the cache's manifest records for the
// file at path ("" if none).
func (o ResolveOptions) RecordedSHA256(path string) string {
	if o.CacheDir == "" {
		return ""
	}
	c := &cache{dir: o.CacheDir}
	m, err := c.load()
	if err != nil {
		return ""
	}
	return m.Files[c.key(path)].SHA256
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// errNoCacheDir is a zoo file asked for without a cache directory.
var errNoCacheDir = errors.New("no cache directory to download into")

// Fetch returns the path of the file of e (the official GLIP checkpoint if
// official, else the mmpretrain one), downloading it if needed:
//
//  1. a file of that name in the cache directory is verified and used:
//     against the manifest's hash (re-hashed only if its size or mtime
//     changed, or opts.Verify), the registry's hash prefix and opts.SHA256;
//  2. else, if a hash is known, a file of that name in torch hub's cache
//     with the right hash is used (nothing is copied);
//  3. else, unless offline, it is downloaded under a lock file
//     (<cache>/<file>.lock: a second process waits, then uses the first
//     one's file) into <file>.part, resuming an earlier partial download,
//     trying the registry's URLs in order (rewritten by the mirror);
//     verified, synced and renamed to <file>, and its SHA-256 recorded in
//     <cache>/manifest.json.
//
// A file with no published hash must pass CheckBackbone before it is
// recorded, and again each time it is used from the cache; its SHA-256 is
// logged and recorded, and later uses are verified against it. Such a
// download resumes only with a validator (If-Range) from the same URL.
//
// A hash mismatch or a failed CheckBackbone after download removes the
// partial file; the next URL is tried after a mirror's failure, but not
// after a *LocalError (a full disk is no mirror's fault), which keeps the
// partial file. So does an interruption (ctx cancelled) and running out of
// opts.Timeout (*TimeLimitError): the next run resumes.
func Fetch(ctx context.Context, e Entry, official bool, opts ResolveOptions) (string, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	if err := opts.Validate(); err != nil {
		return "", err
	}
	f, err := entryFile(e, official)
	if err != nil {
		return "", err
	}
	published := f.SHA256
	want, why := f.SHA256, "published in the zoo registry"
	if opts.Lock != nil {
		if f, err = opts.pinned(e, official, f); err != nil {
			return "", err
		}
		want, why = f.SHA256, "locked in "+opts.Lock.where()
	}
	if opts.SHA256 != "" {
		want, why = strings.ToLower(opts.SHA256), "pinned"
		if f.SHA256 != "" && !strings.HasPrefix(want, f.SHA256) && !strings.HasPrefix(f.SHA256, want) {
			return "", fmt.Errorf("%s: the pinned sha256 %s contradicts the zoo registry's %s", f.Name, want, f.SHA256)
		}
		if len(f.SHA256) > len(want) {
			want = f.SHA256
		}
	}
	// A file nobody published a hash for must prove what it is.
	prove := func(p string) error {
		if published != "" {
			return nil
		}
		return CheckBackbone(p, e)
	}
	dir := opts.CacheDir
	if dir == "" {
		return "", fmt.Errorf("%s: %w", f.Name, errNoCacheDir)
	}
	c := &cache{dir: dir}
	final := filepath.Join(dir, f.Name)
	co := checkOptions{want: want, wantWhy: why + "; delete the file to download it again", full: opts.Verify, log: opts.Log}
	cached := func(p, how string) (string, error) {
		sum, err := c.check(ctx, p, co)
		if err != nil {
			return "", err
		}
		if err := prove(p); err != nil {
			return "", fmt.Errorf("%w (delete it to download it again)", err)
		}
		opts.logf("%s: %s, sha256 %s", p, how, sum)
		return p, nil
	}

	if isFile(final) {
		return cached(final, "cached")
	}
	if th := opts.TorchHubDir; want != "" && th != "" {
		tp := filepath.Join(th, f.Name)
		if isFile(tp) {
			sum, err := c.check(ctx, tp, co)
			if err == nil {
				err = prove(tp)
			}
			if err == nil {
				opts.logf("%s: found in torch hub's cache, sha256 %s", tp, sum)
				return tp, nil
			}
			opts.logf("ignoring %s: %v", tp, err)
		}
	}
	if opts.Offline {
		return "", &OfflineError{File: f.Name, Dir: dir}
	}
	urls := make([]string, len(f.URLs))
	for i, u := range f.URLs {
		if urls[i], err = RewriteURL(u, opts.Mirror); err != nil {
			return "", err
		}
	}

	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", localError("creating the cache", dir, err)
	}
	if opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, opts.Timeout, &TimeLimitError{File: f.Name, Limit: opts.Timeout})
		defer cancel()
	}
	// stopped turns an interruption or the time limit into the error to
	// return.
	stopped := func(err error) error {
		var tl *TimeLimitError
		if errors.As(context.Cause(ctx), &tl) {
			return tl
		}
		return fmt.Errorf("download %s: %w", f.Name, err)
	}
	unlock, err := lockFile(ctx, final+".lock", func() {
		opts.logf("waiting for another glipctl downloading %s (lock %s.lock)", f.Name, final)
	})
	switch {
	case errors.Is(err, errNoLocking):
		opts.logf("warning: %v; downloading without a lock", err)
	case err != nil && ctx.Err() != nil:
		return "", stopped(err)
	case err != nil:
		return "", err
	default:
		defer unlock()
	}
	if isFile(final) { // another process finished it while we waited
		return cached(final, "downloaded by another process")
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
	if d.MaxSize == 0 {
		d.MaxSize = f.MaxSize
	}
	if want == "" {
		// No hash will check the file: refuse a body that does not even
		// start like one, and resume only what a validator vouches for
		// (nothing else would catch two versions spliced together).
		d.Head = checkTorchHead
		d.RequireValidator = true
	}
	part := final + ".part"
	removePart := func() {
		os.Remove(part)
		os.Remove(MetaPath(part))
	}
	var errs []string
	src := ""
	for _, u := range urls {
		opts.logf("downloading %s from %s", f.Name, u)
		err := d.Download(ctx, u, part)
		if err == nil {
			if err = prove(part); err != nil {
				var nb *NotBackboneError
				if errors.As(err, &nb) {
					err = fmt.Errorf("%s: %v", shortURL(u), nb.Err)
				}
				removePart()
			}
		}
		if err == nil {
			src = u
			break
		}
		if ctx.Err() != nil {
			return "", stopped(err)
		}
		var le *LocalError
		if errors.As(err, &le) {
			return "", fmt.Errorf("download %s: %w", f.Name, le)
		}
		errs = append(errs, err.Error())
		if len(errs) < len(urls) {
			opts.logf("%v; trying the next mirror", err)
		}
	}
	if src == "" {
		if st, err := os.Stat(part); err == nil && st.Size() == 0 {
			removePart() // nothing worth resuming
		}
		return "", fmt.Errorf("download %s: %s", f.Name, joinErrors(errs))
	}
	hashed, err := os.Stat(part)
	if err != nil {
		return "", localError("reading", part, err)
	}
	hd, err := digest.Cache{}.File(ctx, part)
	if err != nil {
		return "", err
	}
	sum := hd.SHA256
	if want != "" && !strings.HasPrefix(sum, want) {
		removePart()
		return "", &HashMismatchError{File: src, Expected: want, Actual: sum, Why: why + "; partial file removed"}
	}
	if err := os.Rename(part, final); err != nil {
		return "", localError("renaming", part, err)
	}
	os.Remove(MetaPath(part))
	syncDir(dir)
	st, err := os.Stat(final)
	if err != nil {
		return "", err
	}
	if err := c.record(ctx, f.Name, manifestFile{SHA256: sum, Size: st.Size(), MTime: st.ModTime(), URL: src}); err != nil {
		opts.logf("warning: could not record %s in %s: %v", f.Name, c.manifestPath(), err)
	}
	// The file is fresh, so the digest cache would not take it on its own
	// (racy); we wrote it, synced it and hashed it after the last write, so
	// record it: a conversion of it need not read it again. Best effort.
	_ = c.digests().Record(final, sum, hashed)
	if want == "" {
		opts.logf("%s: sha256 %s (no published checksum; its %s backbone shapes checked; recorded in %s, later uses are verified against it)", f.Name, sum, e.Display, c.manifestPath())
	} else {
		opts.logf("%s: sha256 %s verified", final, sum)
	}
	return final, nil
}

// joinErrors joins the mirrors' errors with "; ", each distinct one once
// (a mirror option sends every URL to one host), with a count if repeated.
func joinErrors(errs []string) string {
	var order []string
	n := map[string]int{}
	for _, e := range errs {
		if n[e] == 0 {
			order = append(order, e)
		}
		n[e]++
	}
	for i, e := range order {
		if n[e] > 1 {
			order[i] = fmt.Sprintf("%s (%d URLs)", e, n[e])
		}
	}
	return strings.Join(order, "; ")
}
