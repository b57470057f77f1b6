package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestZooText(t *testing.T) {
	cache := zooTestEnv(t)
	io, out, _ := testStreams()
	if err := zooRun(&zooOptions{IO: io, Format: "text"}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "NAME") ||
		!strings.HasPrefix(lines[1], "swin-t_glip-pre_3rdparty ") || !strings.Contains(lines[1], "Swin-T") || !strings.HasSuffix(lines[1], " -") ||
		!strings.HasPrefix(lines[2], "swin-l_glip-pre_3rdparty_384px ") || !strings.Contains(lines[2], "Swin-L") {
		t.Fatalf("table:\n%s", out.String())
	}
	// Put the Swin-L official file in the cache.
	os.MkdirAll(cache, 0o755)
	os.WriteFile(filepath.Join(cache, "glip_large_model.pth"), []byte("x"), 0o644)
	out.Reset()
	if err := zooRun(&zooOptions{IO: io, Format: "text"}); err != nil {
		t.Fatal(err)
	}
	lines = strings.Split(strings.TrimSpace(out.String()), "\n")
	if !strings.HasSuffix(lines[2], " official") || !strings.HasSuffix(lines[1], " -") {
		t.Errorf("cached column:\n%s", out.String())
	}
}

func TestZooJSON(t *testing.T) {
	cache := zooTestEnv(t)
	os.MkdirAll(cache, 0o755)
	w := filepath.Join(cache, "swin-t_glip-pre_3rdparty_20230413-d85813b5.pth")
	os.WriteFile(w, []byte("x"), 0o644)
	io, out, _ := testStreams()
	if err := zooRun(&zooOptions{IO: io, Format: "json"}); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		CacheDir string `json:"cache_dir"`
		Models   []struct {
			Name    string `json:"name"`
			Display string `json:"display"`
			Arch    struct {
				EmbedDim int `json:"embed_dim"`
			} `json:"arch"`
			Preprocess struct {
				BGR bool `json:"bgr"`
			} `json:"preprocess"`
			Weights struct {
				File   string   `json:"file"`
				URLs   []string `json:"urls"`
				SHA256 string   `json:"sha256"`
				Cached bool     `json:"cached"`
				Path   string   `json:"path"`
			} `json:"weights"`
			Official struct {
				File   string `json:"file"`
				Cached bool   `json:"cached"`
			} `json:"official"`
		} `json:"models"`
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("%v:\n%s", err, out.String())
	}
	if doc.CacheDir != cache || len(doc.Models) != 2 {
		t.Fatalf("%+v", doc)
	}
	m := doc.Models[0]
	if m.Name != "swin-t_glip-pre_3rdparty" || m.Display != "Swin-T" || m.Arch.EmbedDim != 96 || !m.Preprocess.BGR ||
		m.Weights.SHA256 != "d85813b5" || !m.Weights.Cached || m.Weights.Path != w || m.Official.Cached ||
		m.Official.File != "glip_tiny_model_o365_goldg_cc_sbu.pth" {
		t.Errorf("%+v", m)
	}
	if doc.Models[1].Weights.Cached || doc.Models[1].Display != "Swin-L" {
		t.Errorf("%+v", doc.Models[1])
	}
}

func TestZooBadFormat(t *testing.T) {
	zooTestEnv(t)
	io, _, _ := testStreams()
	if err := zooRun(&zooOptions{IO: io, Format: "yaml"}); testExitCode(err) != exitUsage {
		t.Errorf("err = %v", err)
	}
	cmd := newZooCmd(io, nil)
	cmd.SetArgs([]string{"--format", "json", "--dir", t.TempDir()})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
}
