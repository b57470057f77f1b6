package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/glipctl/glipctl/internal/ghactions"
	"github.com/glipctl/glipctl/internal/zoo"
)

func verifyWith(t *testing.T, f *lockFixture, lock, format string, targets ...string) (string, error) {
	t.Helper()
	io, out, _ := testStreams()
	zo := f.zoo()
	zo.LockPath = lock
	err := verifyRun(&verifyOptions{IO: io, Targets: targets, Format: format, Zoo: zo})
	return out.String(), err
}

// TestVerifyTamperedMissing: verify re-hashes what the manifest and the
// digest cache trust: a cached file changed in place (its size and mtime
// put back, so that nothing but its bytes tells) is exit 3 naming both
// hashes; a missing one exit 1; an intact one exit 0.
func TestVerifyTamperedMissing(t *testing.T) {
	f := newLockFixture(t)
	lock := f.lock(t, "swin-t_glip-pre_3rdparty", "official:swin-t_glip-pre_3rdparty")
	if out, err := verifyWith(t, f, lock, "text"); err != nil || strings.Count(out, "\nok ") != 1 || !strings.HasPrefix(out, "ok ") {
		t.Fatalf("intact cache: %v\n%s", err, out)
	}

	o := filepath.Join(f.cache, "o.pth")
	st, err := os.Stat(o)
	if err != nil {
		t.Fatal(err)
	}
	tampered := append([]byte(nil), f.offic...)
	tampered[len(tampered)/2] ^= 0x40
	if err := os.WriteFile(o, tampered, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(o, st.ModTime(), st.ModTime()); err != nil {
		t.Fatal(err)
	}
	good, bad := dlSHA256(f.offic), dlSHA256(tampered)
	// The manifest's record still matches size and mtime: a use trusts it.
	io, _, _ := testStreams()
	opts := testDownloadOptions(io, f.reg, "official:swin-t_glip-pre_3rdparty")
	opts.Zoo.Base.Verify = false
	if _, err := opts.Zoo.Fetch(t.Context(), mustLookup(t, f.reg), true); err != nil {
		t.Fatalf("the manifest no longer vouches for the file (%v): the test would not show verify's re-hash", err)
	}

	for _, lockArg := range []string{lock, ""} {
		out, err := verifyWith(t, f, lockArg, "text")
		if testExitCode(err) != exitCheckFailed || !strings.Contains(err.Error(), good) || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), o) {
			t.Errorf("--lock %q: %v (exit %d), want exit 3 naming %s, %s and %s", lockArg, err, testExitCode(err), o, good, bad)
		}
		if !strings.Contains(out, "MISMATCH") || !strings.Contains(out, bad) {
			t.Errorf("--lock %q: stdout %q", lockArg, out)
		}
	}
	// By name and by path, JSON.
	js, err := verifyWith(t, f, lock, "json", "official:swin-t_glip-pre_3rdparty", filepath.Join(f.cache, "w.pth"))
	if testExitCode(err) != exitCheckFailed {
		t.Errorf("exit %d, want 3", testExitCode(err))
	}
	var got []zoo.Verified
	sc := bufio.NewScanner(strings.NewReader(js))
	for sc.Scan() {
		var v zoo.Verified
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatal(err)
		}
		got = append(got, v)
	}
	if len(got) != 2 || got[0].Status != zoo.StatusMismatch || got[0].Expected != good || got[0].SHA256 != bad ||
		got[1].Status != zoo.StatusOK || got[1].SHA256 != dlSHA256(f.weights) || got[1].Name != "swin-t_glip-pre_3rdparty" {
		t.Errorf("json: %s", js)
	}

	// Missing: exit 1, the path named.
	os.Remove(o)
	txt, err := verifyWith(t, f, lock, "text")
	if testExitCode(err) != exitError || !strings.Contains(err.Error(), o) || !strings.Contains(txt, "missing") {
		t.Errorf("missing: %v (exit %d)\n%s", err, testExitCode(err), txt)
	}
	var vf *zoo.VerifyFailedError
	if !errors.As(err, &vf) || vf.Mismatch {
		t.Errorf("missing: %#v, want a VerifyFailedError without mismatch", err)
	}
}

func mustLookup(t *testing.T, reg *zoo.Registry) zoo.Entry {
	t.Helper()
	e, ok := reg.Lookup("swin-t_glip-pre_3rdparty")
	if !ok {
		t.Fatal("no entry")
	}
	return e
}

// TestVerifySummary: in GitHub Actions the results also go to the job
// summary, mismatch included.
func TestVerifySummary(t *testing.T) {
	f := newLockFixture(t)
	lock := f.lock(t, "swin-t_glip-pre_3rdparty")
	w := filepath.Join(f.cache, "w.pth")
	tampered := append([]byte(nil), f.weights...)
	tampered[0] ^= 1
	os.WriteFile(w, tampered, 0o644)
	io, _, _ := testStreams()
	dir := t.TempDir()
	io.Actions = &ghactions.Env{Summary: filepath.Join(dir, "summary.md"), Output: filepath.Join(dir, "output")}
	zo := f.zoo()
	zo.LockPath = lock
	err := verifyRun(&verifyOptions{IO: io, Format: "text", Zoo: zo})
	if testExitCode(err) != exitCheckFailed {
		t.Fatalf("exit %d: %v", testExitCode(err), err)
	}
	md, _ := os.ReadFile(filepath.Join(dir, "summary.md"))
	if !strings.Contains(string(md), "| mismatch | swin-t_glip-pre_3rdparty |") || !strings.Contains(string(md), dlSHA256(tampered)) {
		t.Errorf("summary %s", md)
	}
}
