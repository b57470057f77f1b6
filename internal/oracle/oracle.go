// Package oracle gives tests access to the references nobody here wrote:
// Debian's Python with torch, torchvision, PIL, OpenCV and numpy. A test that needs
// one calls Require: without it the test is skipped with a message, except
// under CI (CI=true), which installs the references and where their absence
// is a failure. Script names the repository's reference and fixture scripts
// (scripts/oracles/, scripts/fixtures/) and the npm packages they use
// (scripts/node_modules/).
package oracle

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Python is Debian's interpreter, where python3-torch and friends install
// (not a pyenv or virtualenv python3 that may come first on PATH).
const Python = "/usr/bin/python3"

// Require skips t, or fails it under CI, unless Python imports every one
// of modules.
func Require(t testing.TB, modules ...string) {
	t.Helper()
	out, err := exec.Command(Python, "-c", "import "+strings.Join(modules, ", ")).CombinedOutput()
	if err == nil {
		return
	}
	msg := fmt.Sprintf("%s cannot import %s (%v: %s); install Debian's python3-torch, python3-torchvision, python3-pil, python3-opencv, python3-numpy",
		Python, strings.Join(modules, ", "), err, bytes.TrimSpace(out))
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// RepoRoot returns the repository's root directory (where go.mod is).
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test's directory")
		}
		dir = parent
	}
}

// Script returns the path of rel (slash-separated, such as
// "oracles/swin_ref.py" or "node_modules/onnxruntime-node") under the
// repository's scripts/ directory.
func Script(t testing.TB, rel string) string {
	t.Helper()
	return filepath.Join(RepoRoot(t), "scripts", filepath.FromSlash(rel))
}
