package zoo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Status is the outcome of verifying one file.
type Status string

// The outcomes of Verify.
const (
	StatusOK       Status = "ok"       // the file's SHA-256 is the expected one
	StatusMismatch Status = "mismatch" // it is not
	StatusMissing  Status = "missing"  // the file is not there
	StatusUnpinned Status = "unpinned" // nothing says what its hash should be
)

// Verified is the result of verifying one file.
type Verified struct {
	// Name is the zoo name ("official:NAME" for an official file), or ""
	// for a file that is none.
	Name string `json:"name,omitempty"`
	// Path is the file verified (where it is expected, when missing).
	Path   string `json:"path"`
	Status Status `json:"status"`
	// Expected is the expected SHA-256 or prefix ("" when unpinned), and
	// ExpectedFrom where it comes from: "lock FILE", "manifest",
	// "registry".
	Expected     string `json:"expected,omitempty"`
	ExpectedFrom string `json:"expected_from,omitempty"`
	// SHA256 is the file's SHA-256, read from its bytes now.
	SHA256 string `json:"sha256,omitempty"`
	Size   int64  `json:"size"`
	// Problem explains a mismatch or a missing file.
	Problem string `json:"problem,omitempty"`
}

// Verify re-hashes files of the cache (reading all their bytes, whatever
// the manifest and the digest cache say) and compares each with its
// expected SHA-256: the lock entry's (opts.Lock), else the one the cache's
// manifest recorded when it was downloaded, else the registry's prefix.
//
// targets are zoo names (the cached file is verified; none is
// downloaded) and file paths. With no targets it verifies every entry of
// opts.Lock, or without a lock every file the manifest records. The
// manifest and digest cache are not changed by a mismatch.
func Verify(ctx context.Context, targets []string, opts ResolveOptions) ([]Verified, error) {
	if opts.CacheDir == "" {
		return nil, errNoCacheDir
	}
	c := &cache{dir: opts.CacheDir}
	m, err := c.load()
	if err != nil {
		return nil, err
	}
	reg := opts.registry()
	var out []Verified
	add := func(name, path, expected, from string) {
		v := Verified{Name: name, Path: path, Expected: expected, ExpectedFrom: from}
		if v.Expected == "" {
			if rec, ok := m.Files[c.key(path)]; ok {
				v.Expected, v.ExpectedFrom = rec.SHA256, "manifest"
			}
		}
		out = append(out, v)
	}
	zooTarget := func(arg string) bool {
		name, official := arg, false
		if rest, ok := strings.CutPrefix(name, OfficialPrefix); ok {
			name, official = rest, true
		}
		e, ok := reg.Lookup(name)
		if !ok {
			return false
		}
		f, err := entryFile(e, official)
		if err != nil {
			return false
		}
		key := e.Name
		if official {
			key = OfficialPrefix + key
		}
		expected, from := "", ""
		if opts.Lock != nil {
			if le, ok := opts.Lock.Entry(key, false); ok {
				f.Name, expected, from = le.File, le.SHA256, "lock "+opts.Lock.where()
			}
		}
		path := filepath.Join(opts.CacheDir, f.Name)
		if !isFile(path) && f.SHA256 != "" && opts.TorchHubDir != "" && isFile(filepath.Join(opts.TorchHubDir, f.Name)) {
			path = filepath.Join(opts.TorchHubDir, f.Name)
		}
		add(key, path, expected, from)
		if expected == "" && out[len(out)-1].Expected == "" && f.SHA256 != "" {
			out[len(out)-1].Expected, out[len(out)-1].ExpectedFrom = f.SHA256, "registry"
		}
		return true
	}
	switch {
	case len(targets) > 0:
		for _, t := range targets {
			if _, err := os.Stat(t); err == nil || !zooTarget(t) {
				expected, from, name := "", "", ""
				if opts.Lock != nil {
					if le, ok := opts.Lock.byFile(filepath.Base(t)); ok {
						expected, from, name = le.SHA256, "lock "+opts.Lock.where(), le.Name
					}
				}
				add(name, t, expected, from)
			}
		}
	case opts.Lock != nil:
		for _, le := range opts.Lock.Files {
			if !zooTarget(le.Name) {
				add(le.Name, filepath.Join(opts.CacheDir, le.File), le.SHA256, "lock "+opts.Lock.where())
			}
		}
	default:
		keys := make([]string, 0, len(m.Files))
		for k := range m.Files {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			p := k
			if !filepath.IsAbs(k) {
				p = filepath.Join(opts.CacheDir, filepath.FromSlash(k))
			}
			add(zooNameOfFile(reg, filepath.Base(p)), p, "", "")
		}
	}
	for i := range out {
		if err := verifyOne(ctx, c, &out[i]); err != nil {
			return out, err
		}
	}
	return out, nil
}

func verifyOne(ctx context.Context, c *cache, v *Verified) error {
	st, err := os.Stat(v.Path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		v.Status, v.Problem = StatusMissing, "not in the cache"
		return nil
	case err != nil:
		return err
	case !st.Mode().IsRegular():
		v.Status, v.Problem = StatusMissing, "not a regular file"
		return nil
	}
	v.Size = st.Size()
	d, err := c.digests().Rehash(ctx, v.Path)
	if err != nil {
		return err
	}
	v.SHA256 = d.SHA256
	switch {
	case v.Expected == "":
		v.Status = StatusUnpinned
	case strings.HasPrefix(v.SHA256, v.Expected):
		v.Status = StatusOK
	default:
		v.Status = StatusMismatch
		v.Problem = (&HashMismatchError{File: v.Path, Expected: v.Expected, Actual: v.SHA256, Why: v.ExpectedFrom}).Error()
	}
	return nil
}

// zooNameOfFile is the zoo name whose mmpretrain or official file has
// this base name ("" if none).
func zooNameOfFile(reg *Registry, base string) string {
	for _, e := range reg.entries {
		switch base {
		case e.Weights.Name:
			return e.Name
		case e.Official.Name:
			return OfficialPrefix + e.Name
		}
	}
	return ""
}

// VerifyError summarises the failures among a Verify's results, naming
// each failed file with its expected and actual hashes; nil when every
// file is ok or unpinned.
func VerifyError(results []Verified) error {
	var bad []string
	mismatch := false
	for _, v := range results {
		switch v.Status {
		case StatusMismatch:
			mismatch = true
			bad = append(bad, v.Problem)
		case StatusMissing:
			bad = append(bad, fmt.Sprintf("%s: %s", v.Path, v.Problem))
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return &VerifyFailedError{Mismatch: mismatch, Problems: bad, Files: len(results)}
}

// VerifyFailedError is a Verify in which some files are missing or differ
// from their expected hash.
type VerifyFailedError struct {
	Mismatch bool     // some file's hash differs (not only missing files)
	Problems []string // one per failed file
	Files    int      // files verified
}

func (e *VerifyFailedError) Error() string {
	return fmt.Sprintf("%d of %d files failed verification: %s", len(e.Problems), e.Files, strings.Join(e.Problems, "; "))
}
