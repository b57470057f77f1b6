// Package digest computes the SHA-256 of files, with an optional cache of
// the sums keyed by the file's identity and stat, in the manner of git's
// index or ccache: an entry is trusted only while the file's device, inode,
// size, modification time and change time are those recorded.
//
// A Cache's zero value hashes every time and caches nothing. With a Dir,
// each entry is a small file in it named after the file's device and
// inode, mode 0644 less the umask, written with atomicfile (whole or not
// at all; not synced). An entry that cannot be read or parsed, or that
// describes another file, is ignored and the file hashed again; failing
// to write an entry is not an error, since the cache is only an
// optimisation. On systems without a
// Unix stat nothing is cached.
//
// Racy files: a write that lands in the same timestamp tick as the stat an
// entry records leaves the stat unchanged. So File stores an entry only
// when the stat before and after hashing are identical and the file's
// modification and change times are at least RacyWindow older than the
// moment hashing started; a file written moments ago is hashed again next
// time, until it has aged.
package digest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/glipctl/glipctl/internal/atomicfile"
)

// RacyWindow is how much older than the start of hashing a file's
// modification and change times must be for File to cache its sum. It
// covers coarse file system timestamps (FAT's 2 s, ext3's and HFS+'s 1 s).
const RacyWindow = 2 * time.Second

// chunk is the size of the reads while hashing.
const chunk = 1 << 20

// now is the clock of the racy guard (tests move it).
var now = time.Now

// Digest is the SHA-256 of a file.
type Digest struct {
	// SHA256 is the sum in lower-case hex.
	SHA256 string
	// Cached is true when the sum came from the cache rather than from
	// reading the file.
	Cached bool
}

// Cache hashes files, remembering the sums in Dir ("" caches nothing).
type Cache struct {
	Dir string
}

// File returns the SHA-256 of the file at path: from the cache when it
// holds an entry for the file whose stat still matches, else by reading
// the file in 1 MiB pieces (stopping with ctx's error when ctx is done),
// after which the entry is stored if the file is not racy. Errors opening
// or reading the file are *fs.PathError.
func (c Cache) File(ctx context.Context, path string) (Digest, error) {
	return c.file(ctx, path, true)
}

// Rehash is File without the cache lookup: it always reads the file, and
// refreshes the file's entry (under the same racy guard).
func (c Cache) Rehash(ctx context.Context, path string) (Digest, error) {
	return c.file(ctx, path, false)
}

func (c Cache) file(ctx context.Context, path string, lookup bool) (Digest, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	if err := ctx.Err(); err != nil {
		return Digest{}, err
	}
	f, err := os.Open(path)
	if err != nil {
		return Digest{}, err
	}
	defer f.Close()
	var before stat
	var haveStat bool
	if c.Dir != "" {
		before, haveStat = fstat(f)
	}
	if haveStat && lookup {
		if sum, ok := c.load(before); ok {
			return Digest{SHA256: sum, Cached: true}, nil
		}
	}
	start := now()
	sum, err := hashReader(ctx, f)
	if err != nil {
		return Digest{}, err
	}
	if haveStat {
		if after, ok := fstat(f); ok && after == before && !before.racy(start) {
			_ = c.store(before, sum)
		}
	}
	return Digest{SHA256: sum}, nil
}

// Record stores sum as the SHA-256 of the file at path without reading
// it, for a caller that has just written the file itself and hashed it
// after its last write (a verified download): such a file is racy, so File
// would not cache it. hashed is the file's stat taken before the caller
// hashed it, possibly under another name (a rename keeps the identity);
// nothing is stored unless the file's device, inode, size and modification
// time are still those of hashed. The caller vouches that nobody wrote the
// file in the same timestamp tick after hashing it. An error only says
// that nothing was stored.
func (c Cache) Record(path, sum string, hashed os.FileInfo) error {
	if c.Dir == "" {
		return nil
	}
	if !validSum(sum) {
		return fmt.Errorf("digest: %q is not a SHA-256", sum)
	}
	if hashed == nil {
		return errors.New("digest: no stat of the hashed file")
	}
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !os.SameFile(fi, hashed) || fi.Size() != hashed.Size() || !fi.ModTime().Equal(hashed.ModTime()) {
		return fmt.Errorf("%s: changed since it was hashed", path)
	}
	st, ok := statPath(path)
	if !ok {
		return errors.New("digest: no stat on this system")
	}
	if st.Size != fi.Size() || st.MTime != fi.ModTime().UnixNano() {
		return fmt.Errorf("%s: changed since it was hashed", path)
	}
	return c.store(st, sum)
}

// hashReader returns the hex SHA-256 of what r holds, reading 1 MiB at a
// time and checking ctx between reads.
func hashReader(ctx context.Context, r io.Reader) (string, error) {
	h := sha256.New()
	buf := make([]byte, chunk)
	for {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		n, err := io.ReadFull(r, buf)
		h.Write(buf[:n])
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// stat is what identifies a file and its version.
type stat struct {
	Dev, Ino     uint64
	Size         int64
	MTime, CTime int64 // ns since the epoch
}

// racy reports whether the file may have changed, in the same timestamp
// tick, after the moment start.
func (s stat) racy(start time.Time) bool {
	limit := start.Add(-RacyWindow).UnixNano()
	return s.MTime > limit || s.CTime > limit
}

// entry is the JSON of a cache entry.
type entry struct {
	Version int    `json:"version"`
	Dev     uint64 `json:"dev"`
	Ino     uint64 `json:"ino"`
	Size    int64  `json:"size"`
	MTimeNS int64  `json:"mtime_ns"`
	CTimeNS int64  `json:"ctime_ns"`
	SHA256  string `json:"sha256"`
}

const entryVersion = 1

func (c Cache) entryPath(s stat) string {
	return filepath.Join(c.Dir, fmt.Sprintf("%x-%x.json", s.Dev, s.Ino))
}

// load returns the cached sum of the file whose stat is s, if the cache
// has a well-formed entry for it that matches.
func (c Cache) load(s stat) (string, bool) {
	data, err := os.ReadFile(c.entryPath(s))
	if err != nil || len(data) > 4096 {
		return "", false
	}
	var e entry
	if err := json.Unmarshal(data, &e); err != nil {
		return "", false
	}
	if e.Version != entryVersion || !validSum(e.SHA256) ||
		(stat{Dev: e.Dev, Ino: e.Ino, Size: e.Size, MTime: e.MTimeNS, CTime: e.CTimeNS}) != s {
		return "", false
	}
	return e.SHA256, true
}

// store writes the entry of the file whose stat is s, replacing any
// (atomicfile: whole or not at all). It is not synced: an entry lost or
// emptied by a crash is ignored like any damaged entry.
func (c Cache) store(s stat, sum string) error {
	data, err := json.Marshal(entry{Version: entryVersion, Dev: s.Dev, Ino: s.Ino, Size: s.Size, MTimeNS: s.MTime, CTimeNS: s.CTime, SHA256: sum})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFile(context.Background(), c.entryPath(s), append(data, '\n'), atomicfile.Options{Replace: true, NoSync: true})
}

func validSum(s string) bool {
	if len(s) != 2*sha256.Size || strings.ToLower(s) != s {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}
