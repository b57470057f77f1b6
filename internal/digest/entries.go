package digest

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"time"
)

// Entry is one entry of a Cache, as Entries lists it, for pruning.
type Entry struct {
	// Path is the entry's own file (under Cache.Dir), Size its size and
	// Written its modification time.
	Path    string
	Size    int64
	Written time.Time
	// Dev and Ino identify the file the entry is about.
	Dev, Ino uint64
	// Err says why the entry is unusable (unreadable, not JSON, another
	// version, a name that is not its file's); nil for a well-formed one.
	Err error
}

var entryNameRE = regexp.MustCompile(`^([0-9a-f]+)-([0-9a-f]+)\.json$`)

// Entries lists the cache's entries. A missing directory has none.
// Files that are not entries (no "<dev>-<ino>.json" name) are left out.
func (c Cache) Entries() ([]Entry, error) {
	if c.Dir == "" {
		return nil, nil
	}
	des, err := os.ReadDir(c.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Entry
	for _, de := range des {
		if !entryNameRE.MatchString(de.Name()) || !de.Type().IsRegular() {
			continue
		}
		info, err := de.Info()
		if err != nil {
			continue
		}
		p := filepath.Join(c.Dir, de.Name())
		e := Entry{Path: p, Size: info.Size(), Written: info.ModTime()}
		e.Err = func() error {
			if info.Size() > 4096 {
				return errors.New("too large")
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			var je entry
			if err := json.Unmarshal(data, &je); err != nil {
				return err
			}
			if je.Version != entryVersion || !validSum(je.SHA256) {
				return fmt.Errorf("version %d or sum %q", je.Version, je.SHA256)
			}
			e.Dev, e.Ino = je.Dev, je.Ino
			if c.entryPath(stat{Dev: je.Dev, Ino: je.Ino}) != p {
				return errors.New("named after another file")
			}
			return nil
		}()
		out = append(out, e)
	}
	return out, nil
}

// FileID returns the device and inode of the file at path (false where
// there is no Unix stat, or on an error).
func FileID(path string) (dev, ino uint64, ok bool) {
	st, ok := statPath(path)
	return st.Dev, st.Ino, ok
}

// Current reports whether the cache's entry for the file at path (if
// any) still matches the file's stat: false when there is an entry for
// the file's device and inode that describes an older version of it.
func (c Cache) Current(path string) bool {
	st, ok := statPath(path)
	if !ok || c.Dir == "" {
		return true
	}
	if _, err := os.Stat(c.entryPath(st)); err != nil {
		return true
	}
	_, ok = c.load(st)
	return ok
}
