package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConvertONNXUsage: bad ONNX flags are usage errors (exit 2) and write
// nothing.
func TestConvertONNXUsage(t *testing.T) {
	dir := t.TempDir()
	src := fixture("official_small.pth")
	onnxDst := filepath.Join(dir, "m.onnx")
	for _, args := range [][]string{
		{"--opset", "12"},
		{"--opset", "18"},
		{"--size", "big"},
		{"--size", "0"},
		{"--size", "224x"},
		{"--out-indices", "1,x"},
		{"--semantics", "timm"},
		{"--dtype", "bf16"},
		{"--dtype", "q8_0"},
		{"--layout", "official"},
	} {
		code, _, errOut := runCmd(t, append([]string{"convert", src, "-o", onnxDst}, args...)...)
		if code != exitUsage || !strings.Contains(strings.SplitN(errOut, "\n", 2)[0], strings.TrimPrefix(args[0], "--")) {
			t.Errorf("%v: exit %d, %q", args, code, errOut)
		}
	}
	for _, flag := range [][]string{{"--size", "224"}, {"--opset", "13"}, {"--semantics", "glip"}, {"--out-indices", "2"}} {
		code, _, errOut := runCmd(t, append([]string{"convert", src, "-o", filepath.Join(dir, "m.pth")}, flag...)...)
		if code != exitUsage || !strings.Contains(errOut, "only for ONNX") {
			t.Errorf("%v with a .pth: exit %d, %q", flag, code, errOut)
		}
	}
	if es, _ := os.ReadDir(dir); len(es) != 0 {
		t.Errorf("left %d files", len(es))
	}
}

// TestConvertONNXBadRequests: a size below the window under mmpretrain
// semantics, a source that is not a Swin backbone, and a model without a
// zoo image size and no --size are one-line errors (exit 1), and leave no
// file.
func TestConvertONNXBadRequests(t *testing.T) {
	dir := t.TempDir()
	dst := filepath.Join(dir, "m.onnx")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{fixture("official_small.pth"), "--size", "64"}, "smaller than the window"},
		{[]string{fixture("views.pth"), "--size", "224"}, "views.pth"},
		{[]string{fixture("official_small.pth")}, "--size"},
	} {
		code, _, errOut := runCmd(t, append([]string{"convert", "-o", dst, "--offline"}, c.args...)...)
		if code != exitError || !strings.Contains(errOut, c.want) || strings.Count(errOut, "\n") != 1 || len(errOut) > 260 {
			t.Errorf("%v: exit %d, %q", c.args, code, errOut)
		}
	}
	if es, _ := os.ReadDir(dir); len(es) != 0 {
		t.Errorf("left %d files", len(es))
	}
}

// TestConvertONNX: a .onnx output with its reports, byte-identical when
// made twice, listed by inspect (initializers, opset, inputs, outputs,
// metadata).
func TestConvertONNX(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.onnx"), filepath.Join(dir, "b.onnx")
	for _, dst := range []string{a, b} {
		code, out, errOut := runCmd(t, "convert", fixture("official_small.pth"), "-o", dst, "--size", "100x230", "--semantics", "glip", "--dtype", "f16", "--opset", "13", "-q")
		if code != exitOK || !strings.Contains(out, "(official -> mmpretrain, f16)") {
			t.Fatalf("exit %d: %s %s", code, out, errOut)
		}
	}
	ab, _ := os.ReadFile(a)
	bb, _ := os.ReadFile(b)
	if len(ab) == 0 || !bytes.Equal(ab, bb) {
		t.Fatalf("two conversions differ (%d and %d bytes)", len(ab), len(bb))
	}
	var rep struct {
		Output struct {
			Format string `json:"format"`
			Graph  struct {
				InputSize  string `json:"input_size"`
				Semantics  string `json:"semantics"`
				Opset      int    `json:"opset"`
				OutIndices []int  `json:"out_indices"`
			} `json:"graph"`
		} `json:"output"`
	}
	js, err := os.ReadFile(a + ".report.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(js, &rep); err != nil {
		t.Fatal(err)
	}
	g := rep.Output.Graph
	if rep.Output.Format != "onnx" || g.InputSize != "100x230" || g.Semantics != "glip" || g.Opset != 13 || len(g.OutIndices) != 3 {
		t.Errorf("report %+v", rep.Output)
	}
	if _, err := os.Stat(a + ".report.md"); err != nil {
		t.Error(err)
	}

	code, out, errOut := runCmd(t, "inspect", "--format", "json", a)
	if code != exitOK {
		t.Fatalf("inspect: exit %d, %s", code, errOut)
	}
	var in struct {
		Format   string            `json:"format"`
		Metadata map[string]string `json:"metadata"`
		Tensors  []struct {
			Name  string  `json:"name"`
			DType string  `json:"dtype"`
			Shape []int64 `json:"shape"`
		} `json:"tensors"`
	}
	if err := json.Unmarshal([]byte(out), &in); err != nil {
		t.Fatalf("inspect json: %v", err)
	}
	names := map[string]string{}
	for _, tn := range in.Tensors {
		names[tn.Name] = tn.DType
	}
	if in.Format != "onnx" || names["backbone.stages.1.blocks.1.attn.w_msa.qkv.weight"] != "F16" || names["backbone.stages.0.blocks.0.attn.w_msa.relative_position_bias"] != "F16" {
		t.Errorf("inspect: format %q, %d tensors", in.Format, len(in.Tensors))
	}
	md := in.Metadata
	if md["onnx.opset_import"] != "ai.onnx:13" || md["onnx.ir_version"] != "8" || md["semantics"] != "glip" || md["source_file"] != "official_small.pth" ||
		len(md["source_sha256"]) != 64 || md["channel_order"] == "" || md["mean"] == "" || md["std"] == "" || md["glipctl_version"] == "" ||
		md["onnx.inputs"] != "pixel_values float32 [N,3,100,230]" || !strings.HasPrefix(md["onnx.outputs"], "stage1 float32 [N,16,13,29]; stage2") {
		t.Errorf("inspect metadata %v", md)
	}
}
