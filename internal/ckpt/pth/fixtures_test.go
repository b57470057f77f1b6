package pth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/glipctl/glipctl/internal/ckpt"
	"github.com/glipctl/glipctl/internal/ckpt/ckpttest"
	"github.com/glipctl/glipctl/internal/stats"
)

// expected is what scripts/fixtures/make_fixtures.py writes from torch.load.
type expected struct {
	Tensors []struct {
		Name   string              `json:"name"`
		DType  string              `json:"dtype"`
		Shape  []int64             `json:"shape"`
		Numel  int64               `json:"numel"`
		SHA256 string              `json:"sha256"`
		Stats  map[string]*float64 `json:"stats"`
	} `json:"tensors"`
	Leaves []struct {
		Name string `json:"name"`
	} `json:"leaves"`
}

// TestFixturesMatchTorch reads every committed fixture and compares names,
// order, dtypes, shapes, bytes and statistics with what torch.load saw.
func TestFixturesMatchTorch(t *testing.T) {
	files, _ := filepath.Glob(ckpttest.Fixture(t, "expected/*.json"))
	if len(files) == 0 {
		t.Fatal("no fixtures: run /usr/bin/python3 scripts/fixtures/make_fixtures.py")
	}
	for _, jf := range files {
		base := strings.TrimSuffix(filepath.Base(jf), ".json")
		t.Run(base, func(t *testing.T) {
			var want expected
			b, err := os.ReadFile(jf)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &want); err != nil {
				t.Fatal(err)
			}
			c, err := Open(ckpttest.Fixture(t, base+".pth"), ckpt.OpenOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if len(c.Tensors) != len(want.Tensors) {
				names := []string{}
				for _, tn := range c.Tensors {
					names = append(names, tn.Name)
				}
				t.Fatalf("%d tensors, torch has %d; got %v", len(c.Tensors), len(want.Tensors), names)
			}
			stats, err := stats.TensorStats(context.Background(), c.Tensors)
			if err != nil {
				t.Fatal(err)
			}
			for i, w := range want.Tensors {
				g := c.Tensors[i]
				if g.Name != w.Name || g.DType.String() != w.DType || ckpt.ShapeString(g.Shape) != ckpt.ShapeString(w.Shape) || g.Numel() != w.Numel {
					t.Errorf("tensor %d: got %s %s %v, torch has %s %s %v", i, g.Name, g.DType, g.Shape, w.Name, w.DType, w.Shape)
					continue
				}
				raw, err := g.ReadAll()
				if err != nil {
					t.Errorf("%s: %v", g.Name, err)
					continue
				}
				sum := sha256.Sum256(raw)
				if hex.EncodeToString(sum[:]) != w.SHA256 {
					t.Errorf("%s: bytes differ from torch's (sha256 %x, want %s)", g.Name, sum, w.SHA256)
				}
				checkStats(t, g.Name, stats[i], w.Stats)
			}
			// Every leaf torch saw is listed, or lies inside a sequence of
			// plain values listed as one leaf.
			for _, wl := range want.Leaves {
				found := false
				for _, l := range c.Leaves {
					if l.Name == wl.Name || strings.HasPrefix(wl.Name, l.Name+"/") {
						found = true
					}
				}
				if !found {
					t.Errorf("leaf %s not listed", wl.Name)
				}
			}
		})
	}
}

func checkStats(t *testing.T, name string, got stats.Stats, want map[string]*float64) {
	t.Helper()
	js := got.JSON()
	ptr := func(n stats.Number) *float64 {
		if !n.Finite() {
			return nil
		}
		f := float64(n)
		return &f
	}
	pairs := map[string]*float64{"min": ptr(js.Min), "max": ptr(js.Max), "mean": ptr(js.Mean), "std": ptr(js.Std), "absmax": ptr(js.AbsMax)}
	for k, g := range pairs {
		w := want[k]
		switch {
		case w == nil && g == nil:
		case w == nil || g == nil:
			t.Errorf("%s: %s = %v, torch has %v", name, k, deref(g), deref(w))
		case math.Abs(*g-*w) > 1e-6*math.Max(math.Abs(*w), 1e-12) && math.Abs(*g-*w) > 1e-12:
			t.Errorf("%s: %s = %.17g, torch has %.17g", name, k, *g, *w)
		}
	}
	counts := map[string]int64{"zeros": js.Zeros, "nan": js.NaN, "inf": js.Inf}
	for k, g := range counts {
		if w := want[k]; w == nil || int64(*w) != g {
			t.Errorf("%s: %s = %d, torch has %v", name, k, g, deref(w))
		}
	}
}

func deref(f *float64) any {
	if f == nil {
		return nil
	}
	return *f
}
