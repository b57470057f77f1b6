package ghactions

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEscaping(t *testing.T) {
	for _, c := range []struct{ kind, file, msg, want string }{
		{"error", "", "plain", "::error::plain"},
		{"error", "a/b.pth", "50% off\r\nnext: a, b", "::error file=a/b.pth::50%25 off%0D%0Anext: a, b"},
		{"warning", "c:\\x,y%.pth", "m", "::warning file=c%3A\\x%2Cy%25.pth::m"},
	} {
		if got := Annotation(c.kind, c.file, c.msg); got != c.want {
			t.Errorf("Annotation(%q, %q, %q) = %q, want %q", c.kind, c.file, c.msg, got, c.want)
		}
	}
}

func TestOutsideActionsNothing(t *testing.T) {
	env := FromEnv(func(string) string { return "" })
	if env != nil {
		t.Fatal("an Env outside Actions")
	}
	var buf bytes.Buffer
	env.Annotate(&buf, "error", "f", "m")
	if buf.Len() != 0 || env.AppendSummary([]byte("x")) != nil || env.SetOutput("a", "b") != nil {
		t.Error("a nil Env wrote something")
	}
}

func TestSummaryAndOutput(t *testing.T) {
	dir := t.TempDir()
	vars := map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": filepath.Join(dir, "summary.md"), "GITHUB_OUTPUT": filepath.Join(dir, "output")}
	env := FromEnv(func(k string) string { return vars[k] })
	if err := env.AppendSummary([]byte("# one\n")); err != nil {
		t.Fatal(err)
	}
	if err := env.AppendSummary([]byte("# two\n")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(vars["GITHUB_STEP_SUMMARY"]); string(b) != "# one\n# two\n" {
		t.Errorf("summary %q", b)
	}
	if err := env.SetOutput("path", "/c/x.pth"); err != nil {
		t.Fatal(err)
	}
	if err := env.SetOutput("multi", "a\nb"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(vars["GITHUB_OUTPUT"])
	lines := strings.Split(string(b), "\n")
	if lines[0] != "path=/c/x.pth" || !strings.HasPrefix(lines[1], "multi<<ghadelimiter_") || lines[2] != "a" || lines[3] != "b" ||
		lines[4] != strings.TrimPrefix(lines[1], "multi<<") {
		t.Errorf("output file %q", b)
	}
	if err := env.SetOutput("a=b", "x"); err == nil {
		t.Error("a name with = accepted")
	}
}
