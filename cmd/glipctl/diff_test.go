package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

func TestDiff(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"same file", []string{fwd + "ref_x_glip.safetensors", fwd + "ref_x_glip.safetensors", "--atol", "0", "--rtol", "0"}, 0, "3 tensors compared, 0 differ"},
		// The official .pth remapped to mmpretrain names equals the
		// converted safetensors bit for bit.
		{"official vs converted", []string{"--mmpretrain", fwd + "tiny_official.pth", fwd + "tiny_mm.safetensors", "--atol", "0", "--rtol", "0"}, 0, "0 differ, 0 only in A, 0 only in B"},
		{"names as stored", []string{fwd + "tiny_official.pth", fwd + "tiny_mm.safetensors"}, exitCheckFailed, "only in A: model/module.backbone.body.patch_embed.proj.weight"},
		{"different features", []string{fwd + "ref_x_glip.safetensors", fwd + "ref_x_glip_out013.safetensors"}, exitCheckFailed, "only in A: stage2"},
		{"different values", []string{fwd + "ref_png_glip_noresize.safetensors", fwd + "ref_png_mmpretrain_224.safetensors"}, exitCheckFailed, "shape [1, 16, 12, 15], reference [1, 16, 28, 28]"},
	} {
		code, stdout, stderr := runCmd(t, append([]string{"diff"}, c.args...)...)
		if code != c.code || !strings.Contains(stdout+stderr, c.want) {
			t.Errorf("%s: exit %d\n%s\n%s\nwant exit %d and %q", c.name, code, stdout, stderr, c.code, c.want)
		}
	}
	// forward output vs reference: values differ slightly (float32 vs
	// float64 reference) and pass the default tolerance, fail an exact one.
	out := filepath.Join(dir, "f.safetensors")
	if code, _, stderr := runCmd(t, "forward", "--model", fwd+"tiny_mm.safetensors", "--semantics", "glip", "--input", fwd+"x_37x53.npy", "-o", out); code != 0 {
		t.Fatal(stderr)
	}
	if code, stdout, _ := runCmd(t, "diff", out, fwd+"ref_x_glip.safetensors"); code != 0 {
		t.Errorf("default tolerance: exit %d\n%s", code, stdout)
	}
	code, stdout, _ := runCmd(t, "diff", "--format", "json", "--atol", "0", "--rtol", "0", out, fwd+"ref_x_glip.safetensors")
	if code != exitCheckFailed {
		t.Errorf("exact: exit %d", code)
	}
	var rep diffReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	if rep.Compared != 3 || rep.Same || len(rep.Tensors) != 3 || !rep.Tensors[0].MaxAbs.Finite() || rep.Tensors[0].MaxAbs == 0 || rep.Tensors[0].Cosine < 0.999999 {
		t.Errorf("%+v", rep)
	}
	for _, args := range [][]string{{"diff", "a"}, {"diff", "a", "b", "c"}, {"diff", "--atol", "-1", "a", "b"}, {"diff", "--format", "xml", "a", "b"}} {
		if code, _, _ := runCmd(t, args...); code != exitUsage {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	if code, _, stderr := runCmd(t, "diff", fwd+"scene.png", fwd+"tiny_mm.safetensors"); code != exitError || !strings.Contains(stderr, "scene.png") {
		t.Errorf("not a checkpoint: exit %d %s", code, stderr)
	}
}
