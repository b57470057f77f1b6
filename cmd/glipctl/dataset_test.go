package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// datasetInputs copies scene.png to n files of distinct content (a byte
// of a trailing chunk changed, which decoders ignore but the input sha256
// sees) in dir/in, two of them under the same base name in subdirectories,
// and writes their list; it returns the list's path.
func datasetInputs(t *testing.T, dir string, n int) string {
	t.Helper()
	src, err := os.ReadFile(fwd + "scene.png")
	if err != nil {
		t.Fatal(err)
	}
	var list strings.Builder
	list.WriteString("# inputs\n\n")
	for i := 0; i < n; i++ {
		p := filepath.Join(dir, "in", fmt.Sprintf("img%02d.png", i))
		if i < 2 {
			p = filepath.Join(dir, "in", fmt.Sprintf("sub%d", i), "same.png")
		}
		os.MkdirAll(filepath.Dir(p), 0o755)
		b := append([]byte(nil), src...)
		b = append(b, byte(i)) // after IEND: ignored by PNG decoders
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintln(&list, p)
	}
	lp := filepath.Join(dir, "list.txt")
	os.WriteFile(lp, []byte(list.String()), 0o644)
	return lp
}

// dirFiles returns the files of dir (names to contents).
func dirFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = b
	}
	return out
}

// TestForwardDatasetShards: two shards' outputs together are the outputs
// of one unsharded run, byte for byte, and their manifests together its
// manifest; a rerun keeps everything; a corrupt output is redone.
func TestForwardDatasetShards(t *testing.T) {
	dir := t.TempDir()
	list := datasetInputs(t, dir, 5)
	m := fwd + "tiny_official.pth"
	all, sharded := filepath.Join(dir, "all"), filepath.Join(dir, "sharded")
	args := []string{"forward", "-m", m, "--semantics", "glip", "--size", "64", "--files-from", list}
	if code, out, stderr := runCmd(t, append(args, "--out-dir", all)...); code != 0 || !strings.Contains(out, "5 inputs (5 run, 0 kept") {
		t.Fatalf("exit %d %s %s", code, out, stderr)
	}
	for i := 0; i < 2; i++ {
		if code, _, stderr := runCmd(t, append(args, "--out-dir", sharded, "--shard", fmt.Sprintf("%d/2", i))...); code != 0 {
			t.Fatalf("shard %d: exit %d %s", i, code, stderr)
		}
	}
	a, s := dirFiles(t, all), dirFiles(t, sharded)
	if len(a) != 6 || len(s) != 7 {
		t.Fatalf("files: %d unsharded, %d sharded", len(a), len(s))
	}
	for name, b := range a {
		if strings.HasPrefix(name, "manifest") {
			continue
		}
		if !bytes.Equal(b, s[name]) {
			t.Errorf("%s differs between the sharded and the unsharded run", name)
		}
	}
	joined := append(append([]byte(nil), s["manifest-0-of-2.jsonl"]...), s["manifest-1-of-2.jsonl"]...)
	if !bytes.Equal(joined, a["manifest-0-of-1.jsonl"]) {
		t.Errorf("the shards' manifests do not add up to the unsharded one:\n%s\n%s", joined, a["manifest-0-of-1.jsonl"])
	}
	lines := strings.Split(strings.TrimSpace(string(a["manifest-0-of-1.jsonl"])), "\n")
	var e struct {
		Input       string
		InputSHA256 string `json:"input_sha256"`
		Output      string
		Stages      []struct {
			Name  string
			Shape []int64
			Mean  *float64
		}
	}
	if err := json.Unmarshal([]byte(lines[0]), &e); err != nil || len(lines) != 5 || len(e.Stages) != 3 || e.Stages[0].Mean == nil ||
		!strings.HasPrefix(e.Output, "same.png-") || len(e.InputSHA256) != 64 {
		t.Errorf("manifest %v: %s", err, lines[0])
	}
	// A rerun keeps every output; a corrupted one is redone, to the same bytes.
	victim := filepath.Join(all, "img03.png.safetensors")
	os.WriteFile(victim, a["img03.png.safetensors"][:100], 0o644)
	code, out, stderr := runCmd(t, append(args, "--out-dir", all)...)
	if code != 0 || !strings.Contains(out, "5 inputs (1 run, 4 kept") {
		t.Errorf("rerun: exit %d %s %s", code, out, stderr)
	}
	again := dirFiles(t, all)
	for name, b := range a {
		if !bytes.Equal(b, again[name]) {
			t.Errorf("rerun: %s changed", name)
		}
	}
	// Another configuration redoes everything.
	if code, out, _ := runCmd(t, append(args, "--out-dir", all, "--out-indices", "1,2")...); code != 0 || !strings.Contains(out, "5 inputs (5 run, 0 kept") {
		t.Errorf("new semantics: exit %d %s", code, out)
	}
	// --shard /N takes the index from the environment.
	t.Setenv("JOB_COMPLETION_INDEX", "1")
	envDir := filepath.Join(dir, "env")
	if code, _, stderr := runCmd(t, append(args, "--out-dir", envDir, "--shard", "/2")...); code != 0 {
		t.Fatalf("--shard /2: exit %d %s", code, stderr)
	}
	if e := dirFiles(t, envDir); !bytes.Equal(e["manifest-1-of-2.jsonl"], s["manifest-1-of-2.jsonl"]) {
		t.Errorf("--shard /2 with JOB_COMPLETION_INDEX=1 wrote %v", e)
	}
	for _, bad := range [][]string{{"--shard", "2/2"}, {"--shard", "x"}, {"--shard", "0/0"}} {
		if code, _, _ := runCmd(t, append(append(args, "--out-dir", envDir), bad...)...); code != exitUsage {
			t.Errorf("%v: exit %d", bad, code)
		}
	}
	if code, _, _ := runCmd(t, "forward", "-m", m, "--files-from", list); code != exitUsage {
		t.Errorf("--files-from without --out-dir: exit %d", code)
	}
}

// TestForwardDatasetResumesAfterKill: a SIGKILL in the middle of a dataset
// run leaves only whole outputs; a rerun finishes the job, and its outputs
// and manifest equal an uninterrupted run's, byte for byte.
func TestForwardDatasetResumesAfterKill(t *testing.T) {
	bin := buildGlipctl(t)
	dir := t.TempDir()
	list := datasetInputs(t, dir, 24)
	m := fwd + "tiny_official.pth"
	ref, killed := filepath.Join(dir, "ref"), filepath.Join(dir, "killed")
	args := func(out string) []string {
		return []string{"forward", "-m", m, "--size", "320", "--files-from", list, "--out-dir", out, "--threads", "1"}
	}
	if out, err := exec.Command(bin, args(ref)...).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	cmd := exec.Command(bin, args(killed)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill it once a few outputs exist, before it is done.
	deadline := time.Now().Add(20 * time.Second)
	for {
		entries, _ := os.ReadDir(killed)
		if len(entries) >= 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	mid := dirFiles(t, killed)
	if _, done := mid["manifest-0-of-1.jsonl"]; done {
		t.Skip("the run finished before it could be killed")
	}
	for name := range mid {
		if strings.HasPrefix(name, ".") {
			t.Errorf("the killed run left %s", name)
		}
	}
	if out, err := exec.Command(bin, args(killed)...).CombinedOutput(); err != nil || !strings.Contains(string(out), fmt.Sprintf("%d kept", len(mid))) {
		t.Errorf("rerun: %v %s (kept should be %d)", err, out, len(mid))
	}
	want, got := dirFiles(t, ref), dirFiles(t, killed)
	if len(want) != len(got) {
		t.Fatalf("%d files after the rerun, %d in an uninterrupted run", len(got), len(want))
	}
	for name, b := range want {
		if !bytes.Equal(b, got[name]) {
			t.Errorf("%s differs from the uninterrupted run", name)
		}
	}
}
