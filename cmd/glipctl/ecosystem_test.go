package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEcosystemCommands converts the official fixture to each ecosystem
// layout through the command line and reads the output back with inspect
// (layout, no missing or unexpected key), diff (against the source, by
// canonical names, with equal values) and forward (the stages the layout
// has norms for, equal to the source's features: an RGB export's patch
// embedding is turned back to BGR on reading).
func TestEcosystemCommands(t *testing.T) {
	t.Run("deterministic", func(t *testing.T) {
		dir := t.TempDir()
		var files [2]map[string][]byte
		for i, d := range []string{"a", "b"} {
			dst := filepath.Join(dir, d)
			if code, _, errOut := runCmd(t, "convert", fixture("official_small.pth"), "-o", dst, "--layout", "hf", "--no-sync"); code != 0 {
				t.Fatalf("convert: exit %d: %s", code, errOut)
			}
			files[i] = map[string][]byte{}
			for _, n := range []string{"model.safetensors", "config.json", "preprocessor_config.json"} {
				b, err := os.ReadFile(filepath.Join(dst, n))
				if err != nil {
					t.Fatal(err)
				}
				files[i][n] = b
			}
		}
		for n, b := range files[0] {
			if !bytes.Equal(b, files[1][n]) {
				t.Errorf("%s differs between two conversions of the same file", n)
			}
		}
	})
	dir := t.TempDir()
	src := fixture("official_small.pth")
	ref := filepath.Join(dir, "ref.safetensors")
	fwd := []string{"--semantics", "glip", "--out-indices", "3", "--no-resize", fixture("forward/scene.png")}
	if code, _, errOut := runCmd(t, append([]string{"forward", "-m", src, "-o", ref}, fwd...)...); code != 0 {
		t.Fatalf("forward: exit %d: %s", code, errOut)
	}
	for _, c := range []struct{ layout, out string }{
		{"hf", "hf"}, {"hf-model", "hfm"}, {"timm", "timm"}, {"torchvision", "tv.safetensors"}, {"mmdet", "det.pth"},
	} {
		dst := filepath.Join(dir, c.out)
		if code, _, errOut := runCmd(t, "convert", src, "-o", dst, "--layout", c.layout, "--no-sync"); code != 0 {
			t.Fatalf("convert --layout %s: exit %d: %s", c.layout, code, errOut)
		}
		code, out, errOut := runCmd(t, "inspect", "--format", "json", dst)
		if code != 0 {
			t.Fatalf("inspect %s: exit %d: %s", c.out, code, errOut)
		}
		var in struct {
			Layout     string    `json:"layout"`
			Missing    []string  `json:"missing_keys"`
			Unexpected []string  `json:"unexpected_keys"`
			Arch       *struct{} `json:"arch"`
		}
		if err := json.Unmarshal([]byte(out), &in); err != nil {
			t.Fatal(err)
		}
		if in.Layout != c.layout || in.Arch == nil || len(in.Missing) != 0 || len(in.Unexpected) != 0 {
			t.Errorf("inspect %s: layout %s, arch %v, missing %v, unexpected %v", c.out, in.Layout, in.Arch != nil, in.Missing, in.Unexpected)
		}
		code, out, errOut = runCmd(t, "diff", "--canonical", src, dst, "--atol", "0", "--rtol", "0")
		if code != 0 {
			t.Errorf("diff %s: exit %d: %s%s", c.out, code, out, errOut)
		}
		if c.layout != "mmdet" { // across layouts, diff compares canonical names by itself
			code, out, errOut = runCmd(t, "diff", src, dst, "--atol", "0", "--rtol", "0")
			if code != 0 || !strings.Contains(errOut, "canonical") {
				t.Errorf("diff %s without --canonical: exit %d: %s%s", c.out, code, out, errOut)
			}
		}
		feats := filepath.Join(dir, c.out+".feats.safetensors")
		code, out, errOut = runCmd(t, append([]string{"forward", "-m", dst, "-o", feats}, fwd...)...)
		if code != 0 || !strings.Contains(out, "stage3") {
			t.Errorf("forward %s: exit %d: %s%s", c.out, code, out, errOut)
		}
		if code, out, errOut = runCmd(t, "diff", feats, ref, "--atol", "0", "--rtol", "0"); code != 0 {
			t.Errorf("features of %s differ from the source's: %s%s", c.out, out, errOut)
		}
	}
}
