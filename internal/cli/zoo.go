// Package cli is the command-line side of the model zoo, shared by every
// glipctl command that takes a checkpoint: the flags (--offline,
// --cache-dir, --mirror, --timeout, --lock), the environment variables
// (GLIPCTL_CACHE, GLIPCTL_OFFLINE, GLIPCTL_MIRROR, XDG_CACHE_HOME,
// TORCH_HOME, HOME) and the download progress display. It turns them into
// the plain zoo.ResolveOptions that package zoo takes.
//
// Precedence: a flag wins over its environment variable, which wins over
// the default. The cache directory is --cache-dir, else $GLIPCTL_CACHE,
// else $XDG_CACHE_HOME/glipctl (an absolute XDG_CACHE_HOME only, as the
// XDG spec says), else ~/.cache/glipctl. Offline is --offline or
// $GLIPCTL_OFFLINE set to 1, true, yes or on. The mirror is --mirror, else
// $GLIPCTL_MIRROR. Torch hub's cache is $TORCH_HOME/hub/checkpoints, else
// $XDG_CACHE_HOME/torch/hub/checkpoints, else
// ~/.cache/torch/hub/checkpoints (torch.hub.get_dir's rules).
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/glipctl/glipctl/internal/digest"
	"github.com/glipctl/glipctl/internal/zoo"
)

// Zoo is the zoo part of a command line: the shared flags, the
// environment, where notes and progress go, and the rest of the options.
type Zoo struct {
	// CacheDir, Offline, Mirror and Timeout are the flags' values.
	CacheDir string
	Offline  bool
	Mirror   string
	Timeout  time.Duration
	// LockPath is --lock: a lock file pinning zoo files (zoo.Lock).
	LockPath string
	// Base holds the options no shared flag sets: SHA256, Official,
	// Verify (download's own flags), and for tests Registry and
	// Downloader. Its CacheDir, TorchHubDir, Offline, Mirror, Timeout,
	// Progress and Log are overwritten by Options.
	Base zoo.ResolveOptions
	// Getenv reads the environment; nil means os.Getenv.
	Getenv func(string) string

	out        io.Writer
	tty, quiet bool
}

// AddFlags adds --offline, --cache-dir, --mirror, --timeout and --lock to
// fs.
func (z *Zoo) AddFlags(fs *pflag.FlagSet) {
	z.AddFetchFlags(fs)
	z.AddLockFlag(fs)
}

// AddFetchFlags adds --offline, --cache-dir, --mirror and --timeout to fs.
func (z *Zoo) AddFetchFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&z.Offline, "offline", false, "never use the network: fail if a zoo file is not cached (also $GLIPCTL_OFFLINE=1)")
	fs.StringVar(&z.CacheDir, "cache-dir", "", "download cache `dir` (default $GLIPCTL_CACHE, else $XDG_CACHE_HOME/glipctl or ~/.cache/glipctl)")
	fs.StringVar(&z.Mirror, "mirror", "", "download from this `base-url` instead: replaces scheme and host of every URL (default $GLIPCTL_MIRROR)")
	fs.DurationVar(&z.Timeout, "timeout", 0, "give up a download after this `duration` in all (e.g. 30m; default: no limit beyond the stall rules)")
}

// AddLockFlag adds --lock alone, for commands that take no other zoo
// flag.
func (z *Zoo) AddLockFlag(fs *pflag.FlagSet) {
	fs.StringVar(&z.LockPath, "lock", "", "pin zoo files to this lock `file` (see 'glipctl lock'): a zoo file whose sha256 differs is refused")
}

// SetOutput sends notes and progress to w: a progress bar if tty, else a
// line every few seconds; nothing at all if quiet.
func (z *Zoo) SetOutput(w io.Writer, tty, quiet bool) {
	z.out, z.tty, z.quiet = w, tty, quiet
}

func (z Zoo) getenv(k string) string {
	if z.Getenv != nil {
		return z.Getenv(k)
	}
	return os.Getenv(k)
}

func (z Zoo) mirror() string {
	if z.Mirror != "" {
		return z.Mirror
	}
	return z.getenv("GLIPCTL_MIRROR")
}

// IsOffline reports whether --offline or $GLIPCTL_OFFLINE forbids the
// network.
func (z Zoo) IsOffline() bool {
	if z.Offline {
		return true
	}
	switch strings.ToLower(z.getenv("GLIPCTL_OFFLINE")) {
	case "1", "true", "yes", "on":
		return true
	}
	return false
}

// Validate checks the values a user typed (the mirror, from the flag or
// $GLIPCTL_MIRROR, the pinned hash, the timeout), for commands to report
// as usage errors.
func (z Zoo) Validate() error {
	o := z.Base
	o.Mirror, o.Timeout = z.mirror(), z.Timeout
	if err := o.Validate(); err != nil {
		return hint(err)
	}
	return nil
}

// Options returns the zoo.ResolveOptions the flags and the environment
// give.
func (z Zoo) Options() (zoo.ResolveOptions, error) {
	o := z.Base
	dir, err := CacheDir(z.CacheDir, z.getenv)
	if err != nil {
		return o, err
	}
	o.CacheDir = dir
	o.TorchHubDir = TorchHubDir(z.getenv)
	o.Offline = z.IsOffline()
	o.Mirror = z.mirror()
	o.Timeout = z.Timeout
	if z.LockPath != "" {
		if o.Lock, err = zoo.ReadLock(z.LockPath); err != nil {
			return o, err
		}
	}
	o.Progress, o.Log = nil, nil
	if !z.quiet && z.out != nil {
		o.Log = z.out
		o.Progress = NewProgress(z.out, z.tty, 0)
	}
	return o, nil
}

// Resolve is zoo.Resolve with these options; its errors name the flags
// that change them.
func (z Zoo) Resolve(ctx context.Context, nameOrPath string) (string, error) {
	o, err := z.Options()
	if err != nil {
		return "", err
	}
	p, err := zoo.Resolve(ctx, nameOrPath, o)
	return p, hint(err)
}

// Fetch is zoo.Fetch with these options; its errors name the flags that
// change them.
func (z Zoo) Fetch(ctx context.Context, e zoo.Entry, official bool) (string, error) {
	o, err := z.Options()
	if err != nil {
		return "", err
	}
	p, err := zoo.Fetch(ctx, e, official, o)
	return p, hint(err)
}

// Digests returns the digest cache of the cache directory (one that
// caches nothing when there is none).
func (z Zoo) Digests() digest.Cache {
	o, err := z.Options()
	if err != nil {
		return digest.Cache{}
	}
	return o.Digests()
}

// hinted is an error with a note on the flags that change it.
type hinted struct {
	err  error
	note string
}

func (h *hinted) Error() string { return h.err.Error() + " (" + h.note + ")" }
func (h *hinted) Unwrap() error { return h.err }

// hint adds to a zoo error the flags or variables that change it.
func hint(err error) error {
	var (
		oe *zoo.OfflineError
		tl *zoo.TimeLimitError
		hm *zoo.HashMismatchError
		nl *zoo.NotLockedError
	)
	switch {
	case err == nil:
		return nil
	case errors.As(err, &oe):
		return &hinted{err, "drop --offline/GLIPCTL_OFFLINE, or run 'glipctl download' where there is network and copy the cache"}
	case errors.As(err, &tl):
		return &hinted{err, "--timeout"}
	case errors.As(err, &hm) && strings.HasPrefix(hm.Why, "pinned"):
		return &hinted{err, "--sha256"}
	case errors.As(err, &hm) && strings.HasPrefix(hm.Why, "locked in "):
		return &hinted{err, "--lock"}
	case errors.As(err, &nl):
		return &hinted{err, "--lock"}
	case strings.HasPrefix(err.Error(), "mirror "):
		return &hinted{err, "--mirror or $GLIPCTL_MIRROR"}
	}
	return err
}

// CacheDir returns the cache directory: dir if not empty, else
// $GLIPCTL_CACHE, else $XDG_CACHE_HOME/glipctl, else ~/.cache/glipctl. It
// does not create it. A nil getenv means os.Getenv.
func CacheDir(dir string, getenv func(string) string) (string, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	if dir != "" {
		return dir, nil
	}
	if d := getenv("GLIPCTL_CACHE"); d != "" {
		return d, nil
	}
	if d := getenv("XDG_CACHE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "glipctl"), nil
	}
	home := getenv("HOME")
	if home == "" {
		var err error
		if home, err = os.UserHomeDir(); err != nil {
			return "", fmt.Errorf("no cache directory: %v (set GLIPCTL_CACHE or use --cache-dir)", err)
		}
	}
	return filepath.Join(home, ".cache", "glipctl"), nil
}

// TorchHubDir returns torch.hub's checkpoint directory, where torch (and
// mmpretrain) download weights: $TORCH_HOME/hub/checkpoints, else
// $XDG_CACHE_HOME/torch/hub/checkpoints, else ~/.cache/torch/hub/checkpoints.
// It returns "" when none can be determined. A nil getenv means os.Getenv.
func TorchHubDir(getenv func(string) string) string {
	if getenv == nil {
		getenv = os.Getenv
	}
	if d := getenv("TORCH_HOME"); d != "" {
		return filepath.Join(d, "hub", "checkpoints")
	}
	base := getenv("XDG_CACHE_HOME")
	if base == "" {
		home := getenv("HOME")
		if home == "" {
			var err error
			if home, err = os.UserHomeDir(); err != nil {
				return ""
			}
		}
		base = filepath.Join(home, ".cache")
	}
	return filepath.Join(base, "torch", "hub", "checkpoints")
}
