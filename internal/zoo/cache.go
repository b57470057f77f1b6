package zoo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/glipctl/glipctl/internal/atomicfile"
	"github.com/glipctl/glipctl/internal/digest"
)

// manifestName is the cache's manifest: the SHA-256, size and modification
// time of every file glipctl downloaded or verified.
const manifestName = "manifest.json"

// manifest is the cache's record of file hashes, keyed by the file's name
// for files in the cache directory and by absolute path for others (torch
// hub's cache).
type manifest struct {
	Version int                     `json:"version"`
	Files   map[string]manifestFile `json:"files"`
}

type manifestFile struct {
	SHA256 string    `json:"sha256"`
	Size   int64     `json:"size"`
	MTime  time.Time `json:"mtime"`
	URL    string    `json:"url,omitempty"`
}

// cache is one cache directory.
type cache struct {
	dir string
}

// DigestsDir is the directory of the SHA-256 cache (package digest) under
// the cache directory dir.
func DigestsDir(dir string) string { return filepath.Join(dir, "digests") }

// digests is the SHA-256 cache beside the manifest: whatever the manifest
// says, a file hashed here is remembered there (keyed by its stat), so a
// later conversion of it does not read it again.
func (c *cache) digests() digest.Cache { return digest.Cache{Dir: DigestsDir(c.dir)} }

func (c *cache) manifestPath() string { return filepath.Join(c.dir, manifestName) }

// key is the manifest key of path.
func (c *cache) key(path string) string {
	if filepath.Dir(path) == filepath.Clean(c.dir) {
		return filepath.Base(path)
	}
	// Deeper in the cache (urls/): relative, so that a moved cache (a CI
	// cache restored elsewhere) keeps its records.
	if rel, err := filepath.Rel(filepath.Clean(c.dir), filepath.Clean(path)); err == nil && filepath.IsLocal(rel) {
		return filepath.ToSlash(rel)
	}
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return path
}

// load reads the manifest; a missing one is empty.
func (c *cache) load() (*manifest, error) {
	m := &manifest{Version: 1, Files: map[string]manifestFile{}}
	data, err := os.ReadFile(c.manifestPath())
	if errors.Is(err, os.ErrNotExist) {
		return m, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, m); err != nil {
		return nil, fmt.Errorf("%s: %v (delete it to start afresh)", c.manifestPath(), err)
	}
	if m.Files == nil {
		m.Files = map[string]manifestFile{}
	}
	return m, nil
}

// record sets the manifest entry of key under the manifest's lock and
// rewrites the manifest atomically.
func (c *cache) record(ctx context.Context, key string, f manifestFile) error {
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return err
	}
	unlock, err := lockFile(ctx, c.manifestPath()+".lock", nil)
	if err != nil {
		return err
	}
	defer unlock()
	m, err := c.load()
	if err != nil {
		return err
	}
	m.Files[key] = f
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(context.Background(), c.manifestPath(), append(data, '\n'), atomicfile.Options{Replace: true})
}

// syncDir makes a rename in dir durable; errors are ignored (some file
// systems refuse to sync directories).
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// errNoLocking is returned by lockFile when the file system does not
// support locking.
var errNoLocking = errors.New("file locking not supported")

// errLocked is returned by tryLock when another process holds the lock.
var errLocked = errors.New("locked")

// lockFile takes an exclusive lock on path (creating it), waiting for
// another holder to release it; onWait is called once if it has to wait.
// The lock is flock(2) on Unix and LockFileEx on Windows; the lock file is
// left in place. Only PruneCache removes one, while holding its lock; so a
// lock taken on a file that is no longer at path (removed meanwhile) is
// dropped and taken again on the file now there.
func lockFile(ctx context.Context, path string, onWait func()) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, localError("opening lock", path, err)
	}
	waited := false
	for {
		err := tryLock(f)
		if err == nil {
			if !stillAt(f, path) {
				unlockFile(f)
				f.Close()
				if f, err = os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644); err != nil {
					return nil, localError("opening lock", path, err)
				}
				continue
			}
			return func() {
				unlockFile(f)
				f.Close()
			}, nil
		}
		if !errors.Is(err, errLocked) {
			f.Close()
			if errors.Is(err, errNoLocking) {
				return nil, fmt.Errorf("lock %s: %w", path, errNoLocking)
			}
			return nil, localError("locking", path, err)
		}
		if !waited && onWait != nil {
			onWait()
		}
		waited = true
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for lock %s: %w", path, context.Cause(ctx))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stillAt reports whether the open file f is the file at path.
func stillAt(f *os.File, path string) bool {
	a, err1 := f.Stat()
	b, err2 := os.Stat(path)
	return err1 == nil && err2 == nil && os.SameFile(a, b)
}

// HashMismatchError is a file whose SHA-256 is not the expected one.
type HashMismatchError struct {
	File     string // the file or URL
	Expected string // the expected hash or prefix
	Actual   string // the full SHA-256 of the file
	Why      string // where the expectation comes from
}

func (e *HashMismatchError) Error() string {
	return fmt.Sprintf("%s: sha256 mismatch: expected %s (%s), got %s", e.File, e.Expected, e.Why, e.Actual)
}

// checkOptions say how check verifies a cached file.
type checkOptions struct {
	want    string // expected hash or prefix, "" for none
	wantWhy string // where want comes from, for errors
	full    bool   // re-hash even if size and mtime match the manifest
	url     string // recorded with a new manifest entry
	log     io.Writer
}

// check verifies the file at path and returns its SHA-256. The file is
// re-hashed unless the manifest has an entry for it whose size and mtime
// match (and o.full is false). The hash must equal the manifest's, if any,
// and start with o.want, if set. A file without a manifest entry, or whose
// entry is stale but whose hash still matches, is (re)recorded.
func (c *cache) check(ctx context.Context, path string, o checkOptions) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if !st.Mode().IsRegular() {
		return "", fmt.Errorf("%s: not a regular file", path)
	}
	m, err := c.load()
	if err != nil {
		return "", err
	}
	key := c.key(path)
	rec, haveRec := m.Files[key]
	fresh := haveRec && rec.Size == st.Size() && rec.MTime.Equal(st.ModTime())
	var sum string
	if fresh && !o.full {
		sum = rec.SHA256
	} else {
		d, err := c.digests().Rehash(ctx, path)
		if err != nil {
			return "", err
		}
		sum = d.SHA256
	}
	if haveRec && sum != rec.SHA256 {
		return "", &HashMismatchError{File: path, Expected: rec.SHA256, Actual: sum,
			Why: "recorded in " + c.manifestPath() + " when it was downloaded; the file has changed, delete it to download it again"}
	}
	if o.want != "" && !strings.HasPrefix(sum, o.want) {
		return "", &HashMismatchError{File: path, Expected: o.want, Actual: sum, Why: o.wantWhy}
	}
	if !fresh {
		url := o.url
		if haveRec && url == "" {
			url = rec.URL
		}
		if err := c.record(ctx, key, manifestFile{SHA256: sum, Size: st.Size(), MTime: st.ModTime(), URL: url}); err != nil && o.log != nil {
			fmt.Fprintf(o.log, "warning: could not record %s in %s: %v\n", path, c.manifestPath(), err)
		}
	}
	return sum, nil
}
