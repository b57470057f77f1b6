package zoo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/glipctl/glipctl/internal/atomicfile"
	"github.com/glipctl/glipctl/internal/ckpt"
)

// A lock file (glipctl.lock) pins zoo files to their exact bytes, as a
// package manager's lock file does, so that every run of a pipeline uses
// the same weights:
//
//	{
//	  "version": 1,
//	  "files": [
//	    {"name": "swin-t_glip-pre_3rdparty",
//	     "file": "swin-t_glip-pre_3rdparty_20230413-d85813b5.pth",
//	     "urls": ["https://download.openmmlab.com/..."],
//	     "size": 113067520, "sha256": "d85813b5..."}
//	  ]
//	}
//
// Entries are sorted by name; "name" is the zoo name as given to Resolve
// ("official:NAME" for the official GLIP file); "sha256" is the whole hash;
// "urls" are the registry's (a mirror rewrites them when downloading, as
// always). With ResolveOptions.Lock, Resolve and Fetch take a zoo file's
// name, URLs and hash from its entry (a zoo name the lock does not list is
// a *NotLockedError), and a file given by path whose base name is a locked
// file's must have the locked hash.

// LockVersion is the version of the lock file format.
const LockVersion = 1

// CacheFormatVersion is the version of the cache's layout (file names,
// manifest, urls/, digests/); it is part of CacheKey.
const CacheFormatVersion = 1

// Lock is the content of a lock file.
type Lock struct {
	Version int         `json:"version"`
	Files   []LockEntry `json:"files"`
	// Path is the file the lock was read from ("" for a new one), for
	// errors.
	Path string `json:"-"`
}

// LockEntry pins one zoo file.
type LockEntry struct {
	Name   string   `json:"name"`
	File   string   `json:"file"`
	URLs   []string `json:"urls"`
	Size   int64    `json:"size"`
	SHA256 string   `json:"sha256"`
}

// NotLockedError is a zoo name used with a lock file that does not list
// it.
type NotLockedError struct {
	Name string
	Lock string // the lock file
}

func (e *NotLockedError) Error() string {
	return fmt.Sprintf("%s: not in the lock file %s (add it with 'glipctl lock')", e.Name, e.Lock)
}

// maxLockFile bounds a lock file read into memory.
const maxLockFile = 1 << 20

// ReadLock reads and checks the lock file at path. Errors name the file.
func ReadLock(path string) (*Lock, error) {
	f, size, err := ckpt.OpenRegular(path)
	if err != nil {
		return nil, fmt.Errorf("lock file: %w", err)
	}
	defer f.Close()
	if size > maxLockFile {
		return nil, fmt.Errorf("%s: %d bytes is too large for a lock file", path, size)
	}
	data := make([]byte, size)
	if _, err := f.ReadAt(data, 0); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	l, err := ParseLock(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	l.Path = path
	return l, nil
}

// ParseLock parses and checks a lock file's content.
func ParseLock(data []byte) (*Lock, error) {
	var l Lock
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&l); err != nil {
		return nil, fmt.Errorf("not a glipctl lock file: %v", err)
	}
	if l.Version != LockVersion {
		return nil, fmt.Errorf("lock file version %d, this glipctl reads version %d", l.Version, LockVersion)
	}
	seen := map[string]bool{}
	for _, e := range l.Files {
		if seen[e.Name] {
			return nil, fmt.Errorf("%s listed twice", e.Name)
		}
		seen[e.Name] = true
		if err := checkFile(File{Name: e.File, URLs: e.URLs}); err != nil {
			return nil, fmt.Errorf("%s: %w", e.Name, err)
		}
		if len(e.SHA256) != 64 || !hexRE.MatchString(e.SHA256) {
			return nil, fmt.Errorf("%s: sha256 %q is not 64 lower-case hex digits", e.Name, e.SHA256)
		}
		if e.Size < 0 {
			return nil, fmt.Errorf("%s: negative size", e.Name)
		}
	}
	return &l, nil
}

// Marshal returns the lock file's bytes: indented JSON, entries sorted by
// name, a final newline. The same entries give the same bytes.
func (l *Lock) Marshal() ([]byte, error) {
	out := Lock{Version: LockVersion, Files: slices.Clone(l.Files)}
	slices.SortFunc(out.Files, func(a, b LockEntry) int { return strings.Compare(a.Name, b.Name) })
	data, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

// Write writes the lock file to path (atomically, replacing any).
func (l *Lock) Write(ctx context.Context, path string) error {
	data, err := l.Marshal()
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(ctx, path, data, atomicfile.Options{Replace: true})
}

// Entry returns the entry of a zoo name ("official:" prefix or official
// selecting the official file).
func (l *Lock) Entry(name string, official bool) (LockEntry, bool) {
	if rest, ok := strings.CutPrefix(name, OfficialPrefix); ok {
		name, official = rest, true
	}
	if official {
		name = OfficialPrefix + name
	}
	for _, e := range l.Files {
		if e.Name == name {
			return e, true
		}
	}
	return LockEntry{}, false
}

// byFile returns the entry whose file has this base name.
func (l *Lock) byFile(base string) (LockEntry, bool) {
	for _, e := range l.Files {
		if e.File == base {
			return e, true
		}
	}
	return LockEntry{}, false
}

func (l *Lock) where() string {
	if l.Path != "" {
		return l.Path
	}
	return "the lock file"
}

// CacheKey is a key for a CI cache of the files l pins: it changes when an
// entry's name, file, size or hash does, or the cache format, and not with
// the order of entries, their URLs or the lock file's formatting:
// "glipctl-<CacheFormatVersion>-<first 32 hex digits of a SHA-256>".
func (l *Lock) CacheKey() string {
	files := slices.Clone(l.Files)
	slices.SortFunc(files, func(a, b LockEntry) int { return strings.Compare(a.Name, b.Name) })
	h := sha256.New()
	fmt.Fprintf(h, "glipctl cache format %d\n", CacheFormatVersion)
	for _, e := range files {
		fmt.Fprintf(h, "%s\t%s\t%d\t%s\n", e.Name, e.File, e.Size, e.SHA256)
	}
	return fmt.Sprintf("glipctl-%d-%s", CacheFormatVersion, hex.EncodeToString(h.Sum(nil))[:32])
}

// Pin resolves each zoo name (downloading what is not cached, under opts'
// cache, mirror and offline rules) and returns a lock of their files. A
// name already pinned by opts.Lock is fetched under that pin (and one it
// does not list is a *NotLockedError); callers writing a new lock clear it.
func Pin(ctx context.Context, names []string, opts ResolveOptions) (*Lock, error) {
	reg := opts.registry()
	l := &Lock{Version: LockVersion}
	seen := map[string]bool{}
	for _, arg := range names {
		name, official := arg, opts.Official
		if rest, ok := strings.CutPrefix(name, OfficialPrefix); ok {
			name, official = rest, true
		}
		e, ok := reg.Lookup(name)
		if !ok {
			return nil, &UnknownModelError{Arg: arg, Known: reg.Names()}
		}
		key := name
		if official {
			key = OfficialPrefix + name
		}
		if seen[key] {
			continue
		}
		seen[key] = true
		f, err := entryFile(e, official)
		if err != nil {
			return nil, err
		}
		path, err := Fetch(ctx, e, official, opts)
		if err != nil {
			return nil, err
		}
		st, err := os.Stat(path)
		if err != nil {
			return nil, err
		}
		sum := opts.RecordedSHA256(path)
		if sum == "" {
			d, err := opts.Digests().File(ctx, path)
			if err != nil {
				return nil, err
			}
			sum = d.SHA256
		}
		l.Files = append(l.Files, LockEntry{Name: key, File: filepath.Base(path), URLs: f.URLs, Size: st.Size(), SHA256: sum})
	}
	slices.SortFunc(l.Files, func(a, b LockEntry) int { return strings.Compare(a.Name, b.Name) })
	return l, nil
}

// pinned applies opts.Lock to the file f of zoo entry e: the locked file
// name, URLs and hash. It returns f unchanged without a lock.
func (o ResolveOptions) pinned(e Entry, official bool, f File) (File, error) {
	if o.Lock == nil {
		return f, nil
	}
	le, ok := o.Lock.Entry(e.Name, official)
	if !ok {
		name := e.Name
		if official {
			name = OfficialPrefix + name
		}
		return File{}, &NotLockedError{Name: name, Lock: o.Lock.where()}
	}
	if f.SHA256 != "" && !strings.HasPrefix(le.SHA256, f.SHA256) {
		return File{}, fmt.Errorf("%s: the sha256 %s locked in %s contradicts the zoo registry's %s", le.File, le.SHA256, o.Lock.where(), f.SHA256)
	}
	f.Name, f.URLs, f.SHA256 = le.File, slices.Clone(le.URLs), le.SHA256
	if le.Size > 0 {
		f.MaxSize = le.Size
	}
	return f, nil
}
