package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/glipctl/glipctl/internal/oracle"
)

// TestMain keeps the tests (and the glipctl they run) away from the user's
// cache: convert records source hashes in <cache>/digests.
// TestConvertCheckScript builds glipctl and runs scripts/oracles/check_convert.py,
// which compares its outputs with torch (mmpretrain's remap rules applied
// with torch, torch.save, .half(), .bfloat16()) and with npm's
// @huggingface/gguf. It is skipped without torch, except under CI
// (CI=true), where it fails.
func TestConvertCheckScript(t *testing.T) {
	oracle.Require(t, "torch")
	if testing.Short() {
		t.Skip("-short")
	}
	bin := buildGlipctl(t)
	cmd := exec.Command(oracle.Python, oracle.Script(t, "oracles/check_convert.py"), bin, filepath.Join(oracle.RepoRoot(t), "testdata"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("check_convert.py: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	last := lines[len(lines)-1]
	if !strings.HasSuffix(last, " 0 failed") || strings.HasPrefix(last, "0 passed") {
		t.Fatalf("check_convert.py: %s\n%s", last, out)
	}
	t.Log(last)
}

// TestConvertUsageErrors: bad flags and names are usage errors (exit 2)
// and write nothing.
func TestConvertUsageErrors(t *testing.T) {
	dir := t.TempDir()
	src := fixture("official_small.pth")
	for _, args := range [][]string{
		{"convert", src},
		{"convert"},
		{"convert", src, src, "-o", filepath.Join(dir, "x.pth")},
		{"convert", src, "-o", filepath.Join(dir, "x.bin")},
		{"convert", src, "-o", filepath.Join(dir, "x.pth"), "--dtype", "f8"},
		{"convert", src, "-o", filepath.Join(dir, "x.pth"), "--dtype", "q8_0"},
		{"convert", src, "-o", filepath.Join(dir, "x.safetensors"), "--dtype", "q8_0"},
		{"convert", src, "-o", filepath.Join(dir, "x.gguf"), "--to", "pth"},
		{"convert", src, "-o", filepath.Join(dir, "x.out"), "--to", "tflite"},
		{"convert", src, "-o", filepath.Join(dir, "x.gguf"), "--layout", "official"},
		{"convert", src, "-o", filepath.Join(dir, "x.pth"), "--layout", "caffe"},
		{"convert", src, "-o", filepath.Join(dir, "x.pth"), "--from", "caffe"},
		{"convert", src, "-o", filepath.Join(dir, "x.pth"), "--bogus"},
	} {
		code, out, errOut := runCmd(t, args...)
		if code != exitUsage || out != "" || !strings.HasPrefix(errOut, "glipctl: ") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args[1:], code, out, errOut)
		}
	}
	if es, _ := os.ReadDir(dir); len(es) != 0 {
		t.Errorf("usage errors left %d files", len(es))
	}
	// The internal option errors name their flag.
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--dtype", "f8"}, exitUsage, `--dtype: unknown dtype "f8"`},
		{[]string{"--from", "caffe"}, exitUsage, `--from: unknown layout "caffe"`},
		{[]string{"--from", "mmpretrain"}, exitError, "--from: mmpretrain, but the keys are in the official layout"},
	} {
		code, _, errOut := runCmd(t, append([]string{"convert", src, "-o", filepath.Join(dir, "y.pth")}, c.args...)...)
		if code != c.code || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", c.args, code, errOut, c.code, c.want)
		}
	}
}

// TestConvertCommand converts the fixture through the command line: --to
// with an unusual extension, reports, the summary on stdout, no progress
// bar off a terminal, --force.
func TestConvertCommand(t *testing.T) {
	dir := t.TempDir()
	dst := filepath.Join(dir, "out.bin")
	code, out, errOut := runCmd(t, "convert", fixture("official_small.pth"), "-o", dst, "--to", "safetensors", "--dtype", "bf16")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "131 tensors (official -> mmpretrain, bf16), 13 dropped") || !strings.Contains(out, "max rel RMS error") {
		t.Errorf("stdout %q", out)
	}
	if strings.Contains(errOut, "converting") || strings.Contains(errOut, "\r") {
		t.Errorf("progress output off a terminal: %q", errOut)
	}
	var rep struct {
		Output struct {
			Format string `json:"format"`
			SHA256 string `json:"sha256"`
		} `json:"output"`
		ConversionError struct {
			MaxRelRMS float64 `json:"max_rel_rms_error"`
		} `json:"conversion_error"`
	}
	b, err := os.ReadFile(dst + ".report.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Output.Format != "safetensors" || len(rep.Output.SHA256) != 64 || rep.ConversionError.MaxRelRMS <= 0 || rep.ConversionError.MaxRelRMS > 1.0/256 {
		t.Errorf("report %+v", rep)
	}
	if _, err := os.Stat(dst + ".report.md"); err != nil {
		t.Error(err)
	}

	code, _, errOut = runCmd(t, "convert", fixture("official_small.pth"), "-o", dst, "--to", "safetensors")
	if code != exitError || !strings.Contains(errOut, "already exists") || strings.Count(errOut, "\n") != 1 {
		t.Errorf("existing DST: exit %d, %q", code, errOut)
	}
	code, _, errOut = runCmd(t, "convert", fixture("official_small.pth"), "-o", dst, "--to", "safetensors", "--force", "-q")
	if code != exitOK || errOut != "" {
		t.Errorf("--force -q: exit %d, %q", code, errOut)
	}
}

// TestConvertBadInput: a checkpoint that is not a Swin backbone, and a
// missing file, are errors (exit 1) on one line naming the file.
func TestConvertBadInput(t *testing.T) {
	dir := t.TempDir()
	for _, src := range []string{fixture("views.pth"), filepath.Join(dir, "missing.pth")} {
		code, _, errOut := runCmd(t, "convert", src, "-o", filepath.Join(dir, "x.pth"), "--offline")
		if code != exitError || !strings.Contains(errOut, filepath.Base(src)) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%s: exit %d, %q", src, code, errOut)
		}
	}
	if es, _ := os.ReadDir(dir); len(es) != 0 {
		t.Errorf("left %d files", len(es))
	}
}

// TestConvertResolve: SRC goes through the zoo resolver (zoo names).
func TestConvertResolve(t *testing.T) {
	dir := t.TempDir()
	var asked string
	cmd := newConvertCmd(&IOStreams{Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}}, func(o *convertOptions) error {
		o.Resolve = func(ctx context.Context, s string) (string, error) {
			asked = s
			if s == "swin-t_glip-pre_3rdparty" {
				return fixture("mmpretrain_small.pth"), nil
			}
			return "", errors.New("unknown")
		}
		return convertRun(o)
	})
	cmd.SetArgs([]string{"swin-t_glip-pre_3rdparty", "-o", filepath.Join(dir, "x.gguf"), "--dtype", "q8_0"})
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if asked != "swin-t_glip-pre_3rdparty" {
		t.Errorf("resolver asked %q", asked)
	}
	if _, err := os.Stat(filepath.Join(dir, "x.gguf")); err != nil {
		t.Error(err)
	}
}

// TestConvertDigestCache: the source's sha256 is computed once, then taken
// from the digest cache; --rehash computes it again. The outputs are the
// same bytes, and the reports differ only in source.sha256_source.
func TestConvertDigestCache(t *testing.T) {
	t.Setenv("GLIPCTL_CACHE", t.TempDir())
	src := fixture("official_small.pth")
	if fi, err := os.Stat(src); err != nil || time.Since(fi.ModTime()) < 3*time.Second {
		t.Skipf("fixture missing or just written (the digest cache does not keep racy files): %v", err)
	}
	dir := t.TempDir()
	var outs, reports [][]byte
	for i, c := range []struct {
		args []string
		want string
	}{{nil, "computed"}, {nil, "cache"}, {[]string{"--rehash"}, "computed"}, {nil, "cache"}} {
		dst := filepath.Join(dir, "out.safetensors")
		args := append([]string{"convert", src, "-o", dst, "--report", filepath.Join(dir, "r"), "-q", "--force"}, c.args...)
		if code, _, errOut := runCmd(t, args...); code != exitOK {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
		out, err := os.ReadFile(dst)
		if err != nil {
			t.Fatal(err)
		}
		js, err := os.ReadFile(filepath.Join(dir, "r.json"))
		if err != nil {
			t.Fatal(err)
		}
		var rep struct {
			Source struct {
				SHA256Source string `json:"sha256_source"`
			} `json:"source"`
		}
		if err := json.Unmarshal(js, &rep); err != nil {
			t.Fatal(err)
		}
		if rep.Source.SHA256Source != c.want {
			// A ctime within the racy window also gives "computed".
			t.Errorf("run %d %v: sha256_source %q, want %q", i, c.args, rep.Source.SHA256Source, c.want)
		}
		outs = append(outs, out)
		reports = append(reports, bytes.Replace(js, []byte(`"sha256_source": "cache"`), []byte(`"sha256_source": "computed"`), 1))
	}
	for i := 1; i < len(outs); i++ {
		if !bytes.Equal(outs[i], outs[0]) {
			t.Errorf("run %d: output differs (the safetensors metadata holds the source sha256)", i)
		}
		if !bytes.Equal(reports[i], reports[0]) {
			t.Errorf("run %d: report differs beyond sha256_source", i)
		}
	}
}
