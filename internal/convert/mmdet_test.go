package convert

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/glipctl/glipctl/internal/glip"
	"github.com/glipctl/glipctl/internal/oracle"
)

// TestMMDetMatchesConverter converts a GLIP detector checkpoint (Swin
// backbone, FPN, BERT language backbone, DyHead/VL-fusion head, keys the
// converter drops) made by scripts/oracles/mmdet_ref.py, and compares the .pth
// byte for byte with torch.save of that script's re-implementation of
// mmdetection's glip_to_mmdet.py; then converts it back to the official
// layout, which must give every tensor the script kept its official name
// and bytes again.
func TestMMDetMatchesConverter(t *testing.T) {
	oracle.Require(t, "torch")
	t.Parallel()
	dir := t.TempDir()
	script := oracle.Script(t, "oracles/mmdet_ref.py")
	src, want := filepath.Join(dir, "official.pth"), filepath.Join(dir, "archive.pth")
	for _, args := range [][]string{{"make", dir}, {"convert", src, want}} {
		if out, err := exec.Command(oracle.Python, append([]string{script}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("mmdet_ref.py %s: %v\n%s", args[0], err, out)
		}
	}
	dst := filepath.Join(dir, "det.pth")
	rep, err := ConvertFile(context.Background(), src, dst, FileOptions{Options: Options{Layout: glip.LayoutMMDet, Version: "test"}, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(dst)
	b, _ := os.ReadFile(want)
	if !bytes.Equal(a, b) {
		t.Fatalf("det.pth (%d bytes) differs from torch.save of glip_to_mmdet's output (%d bytes)", len(a), len(b))
	}
	if rep.Ecosystem == nil || rep.Ecosystem.WindowRule != glip.RuleGLIP.ID {
		t.Errorf("report: ecosystem %+v, want window rule %s", rep.Ecosystem, glip.RuleGLIP.ID)
	}
	back := filepath.Join(dir, "back.pth")
	if _, err := ConvertFile(context.Background(), dst, back, FileOptions{Options: Options{Layout: glip.LayoutOfficial, Version: "test"}, NoSync: true}); err != nil {
		t.Fatal(err)
	}
	_, orig := open(t, src).StateDict()
	_, got := open(t, back).StateDict()
	byName := map[string][]byte{}
	for _, g := range got {
		byName[g.Name] = readAll(t, g)
	}
	for _, o := range orig {
		_, keep, _, err := glip.MMDetName(o.Name)
		if err != nil {
			t.Fatal(err)
		}
		g, ok := byName[o.Name]
		switch {
		case !keep && ok:
			t.Errorf("%s: dropped by the converter, but came back", o.Name)
		case keep && !ok:
			t.Errorf("%s: did not come back", o.Name)
		case keep && !bytes.Equal(g, readAll(t, o)):
			t.Errorf("%s: values differ after mmdet -> official", o.Name)
		}
		delete(byName, o.Name)
	}
	for n := range byName {
		t.Errorf("%s: not in the source", n)
	}
}

// TestMMDetBackboneOnly converts a backbone-only (mmpretrain) source to
// the mmdet layout: the backbone part, and a note that says so.
func TestMMDetBackboneOnly(t *testing.T) {
	dst := filepath.Join(t.TempDir(), "det.pth")
	rep, err := ConvertFile(context.Background(), fixture(t, "mmpretrain_small.pth"), dst, FileOptions{Options: Options{Layout: glip.LayoutMMDet, Version: "test"}, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range rep.Tensors {
		if !strings.HasPrefix(tr.To, "backbone.") {
			t.Errorf("%s: not a backbone tensor", tr.To)
		}
	}
	said := false
	for _, n := range rep.Ecosystem.Notes {
		said = said || strings.Contains(n, "backbone only")
	}
	if !said {
		t.Errorf("no note that the mmdet file holds the backbone only: %v", rep.Ecosystem.Notes)
	}
}
