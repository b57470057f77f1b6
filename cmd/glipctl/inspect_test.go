package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestInspectJSONSchema(t *testing.T) {
	code, out, errOut := runCmd(t, "inspect", "--format", "json", "--stats", td+"official_small.pth")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var got struct {
		Format         string          `json:"format"`
		Layout         string          `json:"layout"`
		Arch           *map[string]any `json:"arch"`
		MissingKeys    []string        `json:"missing_keys"`
		UnexpectedKeys []string        `json:"unexpected_keys"`
		Tensors        []struct {
			Name  string             `json:"name"`
			DType string             `json:"dtype"`
			Shape []int64            `json:"shape"`
			Numel int64              `json:"numel"`
			Stats map[string]float64 `json:"stats"`
		} `json:"tensors"`
		Totals struct{ Tensors int } `json:"totals"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, out)
	}
	var want expectedFile
	readJSON(t, td+"expected/official_small.json", &want)
	if got.Format != "pytorch-zip" || got.Layout != "official" || got.Arch == nil {
		t.Errorf("format %q layout %q arch %v", got.Format, got.Layout, got.Arch)
	}
	if len(got.MissingKeys) != 0 || len(got.UnexpectedKeys) != 0 {
		t.Errorf("missing %v unexpected %v", got.MissingKeys, got.UnexpectedKeys)
	}
	if len(got.Tensors) != len(want.Tensors) || got.Totals.Tensors != len(want.Tensors) {
		t.Fatalf("%d tensors, torch has %d", len(got.Tensors), len(want.Tensors))
	}
	for i, w := range want.Tensors {
		g := got.Tensors[i]
		if g.Name != w.Name || g.DType != w.DType || g.Numel != w.Numel {
			t.Errorf("tensor %d: %+v, torch has %+v", i, g, w)
		}
		for _, k := range []string{"min", "max", "mean", "std", "absmax", "zeros", "nan", "inf"} {
			if _, ok := g.Stats[k]; !ok && k != "std" {
				t.Errorf("%s: stats lack %q", g.Name, k)
			}
		}
	}
}

type expectedFile struct {
	Tensors []struct {
		Name  string `json:"name"`
		DType string `json:"dtype"`
		Numel int64  `json:"numel"`
	} `json:"tensors"`
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

func TestInspectTextAndMarkdown(t *testing.T) {
	code, out, _ := runCmd(t, "inspect", td+"mmpretrain_small.pth")
	if code != 0 || !strings.Contains(out, "layout:     mmpretrain") || !strings.Contains(out, "backbone.stages.0.blocks.0.attn.w_msa.qkv.weight") {
		t.Errorf("exit %d, text output:\n%s", code, out)
	}
	code, out, _ = runCmd(t, "inspect", "--format", "markdown", "--filter", `downsample\.reduction`, td+"official_small.pth")
	if code != 0 || !strings.Contains(out, "| NAME | DTYPE |") || strings.Count(out, "reduction.weight |") != 3 {
		t.Errorf("exit %d, markdown output:\n%s", code, out)
	}
}

func TestInspectFilterAndTotals(t *testing.T) {
	code, out, _ := runCmd(t, "inspect", "--format", "json", "--filter", "^optimizer/", td+"official_small.pth")
	var got struct {
		Tensors []struct{ Name string }
		Totals  struct{ Tensors int }
	}
	if code != 0 || json.Unmarshal([]byte(out), &got) != nil || len(got.Tensors) == 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	for _, tn := range got.Tensors {
		if !strings.HasPrefix(tn.Name, "optimizer/") {
			t.Errorf("filter let %s through", tn.Name)
		}
	}
}

func TestInspectNonBackbone(t *testing.T) {
	code, out, _ := runCmd(t, "inspect", "--format", "json", td+"views.pth")
	if code != 0 || !strings.Contains(out, `"layout":"other"`) || !strings.Contains(out, `"arch":null`) {
		t.Errorf("views.pth: exit %d %s", code, out)
	}
}

func TestInspectErrors(t *testing.T) {
	dir := t.TempDir()
	notCkpt := filepath.Join(dir, "notes.txt")
	os.WriteFile(notCkpt, []byte("just text"), 0o644)
	full, _ := os.ReadFile(td + "official_small.pth")
	cut := filepath.Join(dir, "cut.pth")
	os.WriteFile(cut, full[:len(full)/2], 0o644)
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"inspect"}, exitUsage, "at least one FILE"},
		{[]string{"inspect", "--format", "xml", td + "views.pth"}, exitUsage, "--format"},
		{[]string{"inspect", "--filter", "([", td + "views.pth"}, exitUsage, "--filter"},
		{[]string{"inspect", "--nope", td + "views.pth"}, exitUsage, "unknown flag"},
		{[]string{"frobnicate"}, exitUsage, "unknown command"},
		{[]string{"inspect", filepath.Join(dir, "absent.pth")}, exitError, "absent.pth"},
		{[]string{"inspect", notCkpt}, exitError, "notes.txt: not a checkpoint"},
		{[]string{"inspect", cut}, exitError, "cut.pth: pytorch-zip: not a valid PyTorch zip archive"},
		{[]string{"inspect", "--strict", td + "hostile.pth"}, exitError, "refused global posix.system"},
		{[]string{"inspect", td + "views.pth", notCkpt}, exitError, "1 of 2 files failed"},
	}
	for _, tc := range cases {
		code, _, errOut := runCmd(t, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", tc.args, code, errOut, tc.code, tc.want)
		}
		if lines := strings.Count(strings.TrimSpace(errOut), "\n"); tc.code == exitError && len(tc.args) == 2 && lines > 0 {
			t.Errorf("%v: error is %d lines: %q", tc.args, lines+1, errOut)
		}
	}
}

func TestInspectHostileWarns(t *testing.T) {
	code, out, errOut := runCmd(t, "inspect", td+"hostile.pth")
	if code != 0 || !strings.Contains(errOut, "warning: ../../testdata/hostile.pth: refused global posix.system") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	if !strings.Contains(out, "refused") {
		t.Errorf("the refused object is not listed:\n%s", out)
	}
}

func TestVersionAndHelp(t *testing.T) {
	code, out, _ := runCmd(t, "--version")
	if code != 0 || !strings.Contains(out, version) {
		t.Errorf("--version: exit %d %q", code, out)
	}
	code, out, _ = runCmd(t, "--help")
	if code != 0 || !strings.Contains(out, "Exit codes") {
		t.Errorf("--help: exit %d %q", code, out)
	}
	code, out, _ = runCmd(t, "completion", "bash")
	if code != 0 || !strings.Contains(out, "bash completion") {
		t.Errorf("completion: exit %d", code)
	}
}

func TestInspectZooNames(t *testing.T) {
	empty := t.TempDir()
	code, _, errOut := runCmd(t, "inspect", "--offline", "--cache-dir", empty, "swin-t_glip-pre_3rdparty")
	if code != exitError || !strings.Contains(errOut, "not in the cache") {
		t.Errorf("offline, not cached: exit %d %q", code, errOut)
	}
	code, _, errOut = runCmd(t, "inspect", "no-such-model")
	if code != exitError || !strings.Contains(errOut, "zoo models: swin-t_glip-pre_3rdparty") {
		t.Errorf("unknown name: exit %d %q", code, errOut)
	}
	code, _, errOut = runCmd(t, "inspect", "--mirror", "ftp://x", td+"views.pth")
	if code != exitUsage {
		t.Errorf("bad mirror: exit %d %q", code, errOut)
	}
}
