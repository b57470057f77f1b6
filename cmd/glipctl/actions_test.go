package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/glipctl/glipctl/internal/ghactions"
)

// actionsRun runs glipctl as in a GitHub Actions step whose summary and
// output files are in dir; it returns the exit code, stdout, stderr and
// the summary file's content.
func actionsRun(t *testing.T, dir string, args ...string) (int, string, string, string) {
	t.Helper()
	io, out, errOut := testStreams()
	io.Actions = &ghactions.Env{Summary: filepath.Join(dir, "summary.md"), Output: filepath.Join(dir, "output")}
	code := run(context.Background(), args, io)
	sum, _ := os.ReadFile(io.Actions.Summary)
	return code, out.String(), errOut.String(), string(sum)
}

// TestActionsAnnotations: errors, failed checks and warnings also print as
// workflow commands, escaped as the runner requires; nothing of it outside
// Actions.
func TestActionsAnnotations(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "a,b:c%d.npy")
	os.WriteFile(missing, []byte("not a tensor"), 0o644)
	code, _, stderr, _ := actionsRun(t, dir, "forward", "-m", fwd+"tiny_mm.safetensors", "--input", missing)
	wantFile := "file=" + strings.NewReplacer("%", "%25", ":", "%3A", ",", "%2C").Replace(missing) + "::"
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if code != exitError || len(lines) != 2 || !strings.HasPrefix(lines[1], "::error "+wantFile) ||
		!strings.Contains(lines[1], "::"+strings.ReplaceAll(missing, "%", "%25")+": not a .npy file") {
		t.Errorf("missing file: exit %d\n%s\nwant a line starting ::error %s", code, stderr, wantFile)
	}
	code, _, stderr, _ = actionsRun(t, dir, "inspect", td+"hostile.pth")
	if code != 0 || !strings.Contains(stderr, "\n::warning file="+td+"hostile.pth::refused global posix.system\n") {
		t.Errorf("warning: exit %d\n%s", code, stderr)
	}
	code, _, stderr, sum := actionsRun(t, dir, "diff", fwd+"ref_x_glip.safetensors", fwd+"ref_x_glip_out013.safetensors")
	if code != exitCheckFailed || !strings.Contains(stderr, "::error file="+fwd+"ref_x_glip.safetensors::") ||
		!strings.Contains(sum, "### glipctl diff") || !strings.Contains(sum, "❌ out of tolerance") || !strings.Contains(sum, "- only in A: stage2") {
		t.Errorf("diff: exit %d\n%s\nsummary:\n%s", code, stderr, sum)
	}
	// Outside Actions: no workflow command, no summary.
	code, _, stderr = runCmd(t, "inspect", td+"hostile.pth")
	if code != 0 || strings.Contains(stderr, "::") {
		t.Errorf("outside Actions: %s", stderr)
	}
}

// TestActionsSummaries: convert appends its Markdown report to the job
// summary, forward --compare its comparison.
func TestActionsSummaries(t *testing.T) {
	dir := t.TempDir()
	dst := filepath.Join(dir, "small.safetensors")
	code, _, stderr, sum := actionsRun(t, dir, "convert", td+"official_small.pth", "-o", dst)
	md, _ := os.ReadFile(dst + ".report.md")
	if code != 0 || len(md) == 0 || sum != string(md) {
		t.Fatalf("convert: exit %d %s; summary %d bytes, report %d", code, stderr, len(sum), len(md))
	}
	code, _, stderr, sum = actionsRun(t, dir, "forward", "--model", fwd+"tiny_mm.safetensors", "--semantics", "glip", "--input", fwd+"x_37x53.npy", "--compare", fwd+"ref_x_glip.safetensors")
	if code != 0 || !strings.Contains(sum, "### glipctl forward") || !strings.Contains(sum, "✅ within tolerance") || !strings.Contains(sum, "| `stage3` |") {
		t.Errorf("forward: exit %d %s\nsummary:\n%s", code, stderr, sum)
	}
}
