package zoo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/glipctl/glipctl/internal/digest"
)

// OfficialPrefix, in front of a zoo name given to Resolve, selects the
// official GLIP checkpoint instead of the mmpretrain one:
// "official:swin-t_glip-pre_3rdparty" is glip_tiny_model_o365_goldg_cc_sbu.pth.
const OfficialPrefix = "official:"

// ResolveOptions say where Resolve and Fetch look for files and whether
// they may download. The zero value uses the default registry and cache,
// honours the environment, and downloads silently.
type ResolveOptions struct {
	// CacheDir is the download cache; "" means $GLIPCTL_CACHE, else
	// $XDG_CACHE_HOME/glipctl, else ~/.cache/glipctl (see CacheDir).
	CacheDir string
	// Offline forbids the network: a file not already cached is an error.
	// $GLIPCTL_OFFLINE=1 (or true, yes) sets it too.
	Offline bool
	// Mirror, if set, replaces the scheme and host of every download URL
	// (see RewriteURL); "" means $GLIPCTL_MIRROR.
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

// AddFlags adds the flags every command that takes a checkpoint shares:
// --offline, --cache-dir and --mirror.
func (o *ResolveOptions) AddFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.Offline, "offline", false, "never use the network: fail if a zoo file is not cached (also $GLIPCTL_OFFLINE=1)")
	fs.StringVar(&o.CacheDir, "cache-dir", "", "download cache `dir` (default $GLIPCTL_CACHE, else $XDG_CACHE_HOME/glipctl or ~/.cache/glipctl)")
	fs.StringVar(&o.Mirror, "mirror", "", "download from this `base-url` instead: replaces scheme and host of every URL (default $GLIPCTL_MIRROR)")
}

// SetOutput sends notes and progress to w: a progress bar if tty, else a
// line every few seconds; nothing at all if quiet.
func (o *ResolveOptions) SetOutput(w io.Writer, tty, quiet bool) {
	if quiet || w == nil {
		o.Log, o.Progress = nil, nil
		return
	}
	o.Log = w
	o.Progress = NewProgress(w, tty, 0)
}

// Validate checks the option values a user typed (the mirror, from the
// flag or $GLIPCTL_MIRROR, and the pinned hash). Commands call it first to
// report these as usage errors; Resolve and Fetch call it too.
func (o ResolveOptions) Validate() error {
	if m := o.mirror(); m != "" {
		if _, err := ParseMirror(m); err != nil {
			return err
		}
	}
	if o.SHA256 != "" {
		s := strings.ToLower(o.SHA256)
		if len(s) < 8 || !hexRE.MatchString(s) {
			return fmt.Errorf("sha256 %q: want 8 to 64 hex digits", o.SHA256)
		}
	}
	return nil
}

func (o ResolveOptions) mirror() string {
	if o.Mirror != "" {
		return o.Mirror
	}
	return os.Getenv("GLIPCTL_MIRROR")
}

// IsOffline reports whether the options, or $GLIPCTL_OFFLINE, forbid the
// network.
func (o ResolveOptions) IsOffline() bool {
	if o.Offline {
		return true
	}
	switch strings.ToLower(os.Getenv("GLIPCTL_OFFLINE")) {
	case "1", "true", "yes", "on":
		return true
	}
	return false
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
	return fmt.Sprintf("%s: not in the cache %s and offline mode forbids downloading it (drop --offline/GLIPCTL_OFFLINE, or run 'glipctl download' where there is network and copy the cache)", e.File, e.Dir)
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
			return "", fmt.Errorf("%s: is a directory, not a checkpoint", nameOrPath)
		}
		if opts.SHA256 != "" {
			d, err := opts.Digests().Rehash(ctx, nameOrPath) // a pin always reads the file
			if err != nil {
				return "", err
			}
			if want := strings.ToLower(opts.SHA256); !strings.HasPrefix(d.SHA256, want) {
				return "", &HashMismatchError{File: nameOrPath, Expected: want, Actual: d.SHA256, Why: "pinned with --sha256"}
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
	if err != nil {
		return "", false
	}
	dir, err := CacheDir(o.CacheDir)
	if err != nil {
		return "", false
	}
	p := filepath.Join(dir, f.Name)
	if isFile(p) {
		return p, true
	}
	if f.SHA256 != "" || o.SHA256 != "" {
		if th := TorchHubDir(); th != "" && isFile(filepath.Join(th, f.Name)) {
			return filepath.Join(th, f.Name), true
		}
	}
	return "", false
}

// Digests returns the SHA-256 cache of the cache directory (see
// DigestsDir), or a Cache that caches nothing when there is no cache
// directory.
func (o ResolveOptions) Digests() digest.Cache {
	dir, err := CacheDir(o.CacheDir)
	if err != nil {
		return digest.Cache{}
	}
	return digest.Cache{Dir: DigestsDir(dir)}
}

// RecordedSHA256 returns the SHA-256 the cache's manifest records for the
// file at path ("" if none).
func (o ResolveOptions) RecordedSHA256(path string) string {
	dir, err := CacheDir(o.CacheDir)
	if err != nil {
		return ""
	}
	c := &cache{dir: dir}
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
//     <cache>/manifest.json. A file with no known hash has its SHA-256
//     logged and recorded; later uses are verified against it.
//
// A hash mismatch after download removes the partial file.
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
	want, why := f.SHA256, "published in the zoo registry"
	if opts.SHA256 != "" {
		want, why = strings.ToLower(opts.SHA256), "pinned with --sha256"
		if f.SHA256 != "" && !strings.HasPrefix(want, f.SHA256) && !strings.HasPrefix(f.SHA256, want) {
			return "", fmt.Errorf("%s: --sha256 %s contradicts the zoo registry's %s", f.Name, want, f.SHA256)
		}
		if len(f.SHA256) > len(want) {
			want = f.SHA256
		}
	}
	dir, err := CacheDir(opts.CacheDir)
	if err != nil {
		return "", err
	}
	c := &cache{dir: dir}
	final := filepath.Join(dir, f.Name)
	co := checkOptions{want: want, wantWhy: why + "; delete the file to download it again", full: opts.Verify, log: opts.Log}

	if isFile(final) {
		sum, err := c.check(ctx, final, co)
		if err != nil {
			return "", err
		}
		opts.logf("%s: cached, sha256 %s", final, sum)
		return final, nil
	}
	if th := TorchHubDir(); want != "" && th != "" {
		tp := filepath.Join(th, f.Name)
		if isFile(tp) {
			sum, err := c.check(ctx, tp, co)
			if err == nil {
				opts.logf("%s: found in torch hub's cache, sha256 %s", tp, sum)
				return tp, nil
			}
			opts.logf("ignoring %s: %v", tp, err)
		}
	}
	if opts.IsOffline() {
		return "", &OfflineError{File: f.Name, Dir: dir}
	}
	urls := make([]string, len(f.URLs))
	for i, u := range f.URLs {
		if urls[i], err = RewriteURL(u, opts.mirror()); err != nil {
			return "", err
		}
	}

	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("cache %s: %v", dir, err)
	}
	unlock, err := lockFile(ctx, final+".lock", func() {
		opts.logf("waiting for another glipctl downloading %s (lock %s.lock)", f.Name, final)
	})
	switch {
	case errors.Is(err, errNoLocking):
		opts.logf("warning: %v; downloading without a lock", err)
	case err != nil:
		return "", err
	default:
		defer unlock()
	}
	if isFile(final) { // another process finished it while we waited
		sum, err := c.check(ctx, final, co)
		if err != nil {
			return "", err
		}
		opts.logf("%s: downloaded by another process, sha256 %s", final, sum)
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
	part := final + ".part"
	var errs []string
	src := ""
	for i, u := range urls {
		if i > 0 && want == "" {
			// Nothing would catch bytes of two sources spliced together.
			os.Remove(part)
		}
		opts.logf("downloading %s from %s", f.Name, u)
		err := d.Download(ctx, u, part)
		if err == nil {
			src = u
			break
		}
		if ctx.Err() != nil {
			return "", err
		}
		errs = append(errs, err.Error())
		if i+1 < len(urls) {
			opts.logf("%v; trying the next mirror", err)
		}
	}
	if src == "" {
		return "", fmt.Errorf("download %s: %s", f.Name, strings.Join(errs, "; "))
	}
	hashed, err := os.Stat(part)
	if err != nil {
		return "", err
	}
	hd, err := digest.Cache{}.File(ctx, part)
	if err != nil {
		return "", err
	}
	sum := hd.SHA256
	if want != "" && !strings.HasPrefix(sum, want) {
		os.Remove(part)
		return "", &HashMismatchError{File: src, Expected: want, Actual: sum, Why: why + "; partial file removed"}
	}
	if err := os.Rename(part, final); err != nil {
		return "", fmt.Errorf("%s: %v", final, err)
	}
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
		opts.logf("%s: sha256 %s (no published checksum; recorded in %s, later uses are verified against it)", f.Name, sum, c.manifestPath())
	} else {
		opts.logf("%s: sha256 %s verified", final, sum)
	}
	return final, nil
}
