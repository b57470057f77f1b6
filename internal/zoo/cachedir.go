package zoo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/glipctl/glipctl/internal/atomicfile"
	"github.com/glipctl/glipctl/internal/digest"
)

// The cache directory holds:
//
//	<file>                 a verified zoo file
//	<file>.part[.meta]     a download under way or interrupted (resumable)
//	<file>.lock            the lock of its download
//	urls/<hash>/<base>     files of URLs (FetchURL), with their .part/.lock
//	manifest.json[.lock]   the SHA-256 of every verified file
//	digests/               the digest cache (package digest)
//
// ListCache describes it; PruneCache removes what is stale.

// Kind is what a file of the cache is.
type Kind string

// The kinds of ListCache.
const (
	KindFile    Kind = "file"    // a complete file
	KindPartial Kind = "partial" // a .part of a download
	KindLock    Kind = "lock"    // a download's lock file
	KindTemp    Kind = "temp"    // a temporary file left by a killed writer
)

// CacheFile is one file of the cache.
type CacheFile struct {
	// Path is relative to the cache directory, with '/' separators.
	Path string `json:"path"`
	Kind Kind   `json:"kind"`
	Size int64  `json:"size"`
	// SHA256 is the hash the manifest records, given only while the
	// file's size and modification time are those recorded ("" else:
	// 'glipctl verify' hashes it).
	SHA256 string `json:"sha256,omitempty"`
	// Model is the zoo name of a zoo file; URL the address it came from,
	// as recorded.
	Model   string    `json:"model,omitempty"`
	URL     string    `json:"url,omitempty"`
	ModTime time.Time `json:"mtime"`
	// InUse is true for a .part or lock file whose download is running
	// (its lock is held).
	InUse bool `json:"in_use,omitempty"`
}

// tempRE matches atomicfile's named temporary files.
var tempRE = regexp.MustCompile(`^\..+\.tmp-[0-9a-f]{12}$`)

// ListCache lists the files of the cache directory dir in path order:
// zoo files, URL files, partial downloads, lock files and temporary
// files, but not the manifest or the digest cache. A missing directory is
// an empty cache.
func ListCache(dir string, reg *Registry) ([]CacheFile, error) {
	if reg == nil {
		reg = Default()
	}
	c := &cache{dir: dir}
	m, err := c.load()
	if err != nil {
		return nil, err
	}
	var out []CacheFile
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == dir && errors.Is(err, fs.ErrNotExist) {
				return filepath.SkipAll
			}
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel == "digests" {
				return filepath.SkipDir
			}
			return nil
		}
		if rel == manifestName || rel == manifestName+".lock" || !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil // removed meanwhile
		}
		f := CacheFile{Path: rel, Kind: KindFile, Size: info.Size(), ModTime: info.ModTime().UTC()}
		base := d.Name()
		switch {
		case strings.HasSuffix(base, ".part"), strings.HasSuffix(base, ".part.meta"):
			f.Kind = KindPartial
			f.InUse = locked(strings.TrimSuffix(strings.TrimSuffix(p, ".meta"), ".part") + ".lock")
		case strings.HasSuffix(base, ".lock"):
			f.Kind = KindLock
			f.InUse = locked(p)
		case tempRE.MatchString(base):
			f.Kind = KindTemp
		default:
			if rec, ok := m.Files[c.key(p)]; ok {
				f.URL = rec.URL
				if rec.Size == info.Size() && rec.MTime.Equal(info.ModTime()) {
					f.SHA256 = rec.SHA256
				}
			}
			if filepath.Dir(p) == filepath.Clean(dir) {
				f.Model = zooNameOfFile(reg, base)
			}
		}
		out = append(out, f)
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b CacheFile) int { return strings.Compare(a.Path, b.Path) })
	return out, nil
}

// locked reports whether another process holds the lock file at path.
func locked(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	switch err := tryLock(f); {
	case err == nil:
		unlockFile(f)
		return false
	case errors.Is(err, errLocked):
		return true
	}
	return false
}

// PruneOptions say what PruneCache removes beyond the always-stale files.
type PruneOptions struct {
	// DigestAge removes digest-cache entries not written for this long (0
	// keeps them): they cost one hash of their file to remake.
	DigestAge time.Duration
	// DryRun lists what would be removed without removing it.
	DryRun bool
	// Now is the clock for DigestAge; nil means time.Now.
	Now func() time.Time
}

// Pruned is one file PruneCache removed (or would remove).
type Pruned struct {
	Path   string `json:"path"` // relative to the cache directory
	Size   int64  `json:"size"`
	Reason string `json:"reason"`
}

// PruneCache removes the stale files of the cache directory dir and
// returns them in path order:
//
//   - .part and .part.meta files of downloads not running (their lock is
//     free): interrupted downloads, which would otherwise resume;
//   - lock files not held (taken, then removed while held, so that a
//     download starting meanwhile takes a fresh one);
//   - temporary files atomicfile left behind (a killed writer, on systems
//     without unnamed files);
//   - manifest entries of files that are gone;
//   - digest-cache entries that are damaged, describe a cache file that
//     has changed since, or (PruneOptions.DigestAge) are old.
//
// A download running in another process is left alone, and is not
// disturbed: its .part and lock stay.
func PruneCache(ctx context.Context, dir string, o PruneOptions) ([]Pruned, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	var out []Pruned
	remove := func(p string, size int64, reason string) {
		if !o.DryRun {
			if err := os.Remove(p); err != nil {
				return
			}
		}
		out = append(out, Pruned{Path: relPath(dir, p), Size: size, Reason: reason})
	}
	var parts, metas, locks []string
	live := map[string]os.FileInfo{} // complete files of the cache, by path
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == dir && errors.Is(err, fs.ErrNotExist) {
				return filepath.SkipAll
			}
			return err
		}
		if d.IsDir() {
			if p != dir && d.Name() == "digests" && filepath.Dir(p) == filepath.Clean(dir) {
				return filepath.SkipDir
			}
			return nil
		}
		base := d.Name()
		switch {
		case strings.HasSuffix(base, ".part"):
			parts = append(parts, p)
		case strings.HasSuffix(base, ".part.meta"):
			metas = append(metas, p)
		case strings.HasSuffix(base, ".lock"):
			if p != filepath.Join(dir, manifestName+".lock") {
				locks = append(locks, p)
			}
		case tempRE.MatchString(base):
			if info, err := d.Info(); err == nil && o.Now().Sub(info.ModTime()) > time.Hour {
				remove(p, info.Size(), "temporary file of an interrupted write")
			}
		case base != manifestName && d.Type().IsRegular():
			if info, err := d.Info(); err == nil {
				live[p] = info
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// A download holds <file>.lock while it writes <file>.part.
	for _, part := range parts {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		lock := strings.TrimSuffix(part, ".part") + ".lock"
		existed := slices.Contains(locks, lock)
		// Created if missing, so that a download starting now waits.
		unlock, err := tryLockPath(lock, !o.DryRun)
		if o.DryRun && errors.Is(err, fs.ErrNotExist) {
			unlock, err = func() {}, nil
		}
		if err != nil {
			continue // in use, or cannot tell: keep
		}
		if st, err := os.Stat(part); err == nil {
			remove(part, st.Size(), "partial download not running")
		}
		if st, err := os.Stat(MetaPath(part)); err == nil {
			remove(MetaPath(part), st.Size(), "partial download not running")
		}
		// Removed while held: a download waiting on it retakes a new one.
		if existed {
			remove(lock, 0, "lock of no running download")
		} else if !o.DryRun {
			os.Remove(lock) // the one made above
		}
		unlock()
		locks = slices.DeleteFunc(locks, func(l string) bool { return l == lock })
	}
	for _, meta := range metas {
		part := strings.TrimSuffix(meta, ".meta")
		if slices.Contains(parts, part) {
			continue
		}
		unlock, err := tryLockPath(strings.TrimSuffix(part, ".part")+".lock", false)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if unlock == nil {
			unlock = func() {}
		}
		if _, err := os.Stat(part); errors.Is(err, fs.ErrNotExist) {
			if st, err := os.Stat(meta); err == nil {
				remove(meta, st.Size(), "validator of a partial download that is gone")
			}
		}
		unlock()
	}
	for _, l := range locks {
		unlock, err := tryLockPath(l, false)
		if err != nil {
			continue
		}
		if _, err := os.Stat(strings.TrimSuffix(l, ".lock") + ".part"); errors.Is(err, fs.ErrNotExist) {
			if st, err := os.Stat(l); err == nil {
				remove(l, st.Size(), "lock of no running download")
			}
		}
		unlock()
	}
	gone, err := pruneManifest(ctx, dir, o.DryRun)
	if err != nil {
		return out, err
	}
	for _, k := range gone {
		out = append(out, Pruned{Path: manifestName + "#" + k, Reason: "manifest entry of a file that is gone"})
	}
	dc := digest.Cache{Dir: DigestsDir(dir)}
	entries, err := dc.Entries()
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return out, err
	}
	changed := map[[2]uint64]bool{} // cache files whose digest entry is out of date
	for p := range live {
		if dev, ino, ok := digest.FileID(p); ok && !dc.Current(p) {
			changed[[2]uint64{dev, ino}] = true
		}
	}
	for _, e := range entries {
		reason := ""
		switch {
		case e.Err != nil:
			reason = "damaged digest entry"
		case changed[[2]uint64{e.Dev, e.Ino}]:
			reason = "digest entry of a cache file that has changed"
		case o.DigestAge > 0 && o.Now().Sub(e.Written) > o.DigestAge:
			reason = fmt.Sprintf("digest entry older than %v", o.DigestAge)
		default:
			continue
		}
		remove(e.Path, e.Size, reason)
	}
	slices.SortFunc(out, func(a, b Pruned) int { return strings.Compare(a.Path, b.Path) })
	return out, nil
}

// tryLockPath takes the lock file at path without waiting (creating it
// if create): an error if another process holds it, it is missing, or it
// cannot be locked.
func tryLockPath(path string, create bool) (unlock func(), err error) {
	flags := os.O_RDWR
	if create {
		flags |= os.O_CREATE
	}
	f, err := os.OpenFile(path, flags, 0o644)
	if err != nil {
		return nil, err
	}
	if err := tryLock(f); err != nil {
		f.Close()
		return nil, err
	}
	if !stillAt(f, path) {
		unlockFile(f)
		f.Close()
		return nil, errLocked
	}
	return func() { unlockFile(f); f.Close() }, nil
}

func relPath(dir, p string) string {
	rel, err := filepath.Rel(dir, p)
	if err != nil {
		return p
	}
	return filepath.ToSlash(rel)
}

// pruneManifest removes the manifest entries whose files are gone and
// returns their keys.
func pruneManifest(ctx context.Context, dir string, dryRun bool) ([]string, error) {
	c := &cache{dir: dir}
	if _, err := os.Stat(c.manifestPath()); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	unlock, err := lockFile(ctx, c.manifestPath()+".lock", nil)
	if err != nil {
		return nil, err
	}
	defer unlock()
	m, err := c.load()
	if err != nil {
		return nil, err
	}
	var gone []string
	for k := range m.Files {
		p := k
		if !filepath.IsAbs(k) {
			p = filepath.Join(dir, filepath.FromSlash(k))
		}
		if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
			gone = append(gone, k)
		}
	}
	slices.Sort(gone)
	if len(gone) == 0 || dryRun {
		return gone, nil
	}
	for _, k := range gone {
		delete(m.Files, k)
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return gone, atomicfile.WriteFile(ctx, c.manifestPath(), append(data, '\n'), atomicfile.Options{Replace: true})
}
