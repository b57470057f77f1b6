package cli

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/glipctl/glipctl/internal/zoo"
)

// env is a fake environment.
func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestCacheDir(t *testing.T) {
	for _, c := range []struct{ flag, env, xdg, want string }{
		{"/f", "/e", "/x", "/f"},
		{"", "/e", "/x", "/e"},
		{"", "", "/x", "/x/glipctl"},
		{"", "", "relative", "/home/u/.cache/glipctl"},
		{"", "", "", "/home/u/.cache/glipctl"},
	} {
		got, err := CacheDir(c.flag, env("GLIPCTL_CACHE", c.env, "XDG_CACHE_HOME", c.xdg, "HOME", "/home/u"))
		if err != nil || got != c.want {
			t.Errorf("CacheDir(%+v) = %q, %v", c, got, err)
		}
	}
	if got := TorchHubDir(env("HOME", "/home/u")); got != "/home/u/.cache/torch/hub/checkpoints" {
		t.Errorf("TorchHubDir = %q", got)
	}
	if got := TorchHubDir(env("HOME", "/home/u", "XDG_CACHE_HOME", "/x")); got != "/x/torch/hub/checkpoints" {
		t.Errorf("TorchHubDir = %q", got)
	}
	if got := TorchHubDir(env("TORCH_HOME", "/t", "HOME", "/home/u")); got != "/t/hub/checkpoints" {
		t.Errorf("TorchHubDir = %q", got)
	}
}

func TestAddFlags(t *testing.T) {
	var z Zoo
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	z.AddFlags(fs)
	if err := fs.Parse([]string{"--offline", "--cache-dir", "/c", "--mirror", "http://m", "--timeout", "90s"}); err != nil {
		t.Fatal(err)
	}
	if !z.Offline || z.CacheDir != "/c" || z.Mirror != "http://m" || z.Timeout != 90*time.Second {
		t.Errorf("%+v", z)
	}
	if err := (Zoo{Mirror: "m"}).Validate(); err == nil || !strings.Contains(err.Error(), "--mirror") {
		t.Errorf("bad mirror: %v", err)
	}
	if err := (Zoo{Getenv: env("GLIPCTL_MIRROR", "m")}).Validate(); err == nil {
		t.Error("bad $GLIPCTL_MIRROR validated")
	}
	if err := (Zoo{Base: zoo.ResolveOptions{SHA256: "abc"}}).Validate(); err == nil {
		t.Error("short sha256 validated")
	}
	if err := (Zoo{Timeout: -time.Second}).Validate(); err == nil {
		t.Error("negative timeout validated")
	}
}

// TestOptionsFromEnvironment: the environment variables reach the zoo's
// options, flags win over them, and a real download goes where they say.
func TestOptionsFromEnvironment(t *testing.T) {
	dir := t.TempDir()
	data := []byte("weights")
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths = append(paths, r.URL.Path)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
	}))
	defer srv.Close()
	reg, err := zoo.NewRegistry([]zoo.Entry{{
		Name: "m", Display: "M", Arch: zoo.Default().Entries()[0].Arch,
		Weights: zoo.File{Name: "w.pth", URLs: []string{"https://example.invalid/a/w.pth"}, SHA256: "9a129038"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	getenv := env("GLIPCTL_CACHE", filepath.Join(dir, "env-cache"), "GLIPCTL_MIRROR", srv.URL+"/mirror", "TORCH_HOME", filepath.Join(dir, "torch"), "HOME", dir)
	z := Zoo{Getenv: getenv, Base: zoo.ResolveOptions{Registry: reg}}
	o, err := z.Options()
	if err != nil {
		t.Fatal(err)
	}
	if o.CacheDir != filepath.Join(dir, "env-cache") || o.Mirror != srv.URL+"/mirror" || o.TorchHubDir != filepath.Join(dir, "torch", "hub", "checkpoints") || o.Offline {
		t.Fatalf("options %+v", o)
	}
	p, err := z.Resolve(context.Background(), "m")
	if err != nil || p != filepath.Join(dir, "env-cache", "w.pth") || len(paths) != 1 || paths[0] != "/mirror/a/w.pth" {
		t.Fatalf("Resolve = %q, %v; requests %q", p, err, paths)
	}
	// The flag wins over $GLIPCTL_CACHE; $GLIPCTL_OFFLINE forbids the
	// network, and the error names the flag and the variable.
	for _, v := range []string{"1", "true", "yes", "on"} {
		z := Zoo{CacheDir: filepath.Join(dir, "flag-cache"), Getenv: env("GLIPCTL_OFFLINE", v), Base: zoo.ResolveOptions{Registry: reg}}
		_, err := z.Resolve(context.Background(), "m")
		var oe *zoo.OfflineError
		if !errors.As(err, &oe) || oe.Dir != filepath.Join(dir, "flag-cache") || !strings.Contains(err.Error(), "--offline/GLIPCTL_OFFLINE") {
			t.Errorf("GLIPCTL_OFFLINE=%s: %v", v, err)
		}
	}
	if (Zoo{Getenv: env("GLIPCTL_OFFLINE", "0")}).IsOffline() {
		t.Error("GLIPCTL_OFFLINE=0 is offline")
	}
	if len(paths) != 1 {
		t.Errorf("offline made requests: %q", paths)
	}
	// Quiet: no notes; otherwise notes and progress go to the writer.
	var buf bytes.Buffer
	z = Zoo{CacheDir: filepath.Join(dir, "c2"), Mirror: srv.URL, Getenv: env(), Base: zoo.ResolveOptions{Registry: reg}}
	z.SetOutput(&buf, false, false)
	if _, err := z.Resolve(context.Background(), "m"); err != nil || !strings.Contains(buf.String(), "downloading w.pth from "+srv.URL+"/a/w.pth") || !strings.Contains(buf.String(), "w.pth: 7 B done") {
		t.Errorf("notes %q, %v", buf.String(), err)
	}
	buf.Reset()
	z.CacheDir = filepath.Join(dir, "c3")
	z.SetOutput(&buf, false, true)
	if _, err := z.Resolve(context.Background(), "m"); err != nil || buf.Len() != 0 {
		t.Errorf("quiet: %q, %v", buf.String(), err)
	}
	if _, err := os.Stat(filepath.Join(dir, "c3", "w.pth")); err != nil {
		t.Error(err)
	}
}
