package glip_test

import (
	"bytes"
	"testing"

	"github.com/glipctl/glipctl/internal/ckpt"
	"github.com/glipctl/glipctl/internal/ckpt/ckpttest"
	"github.com/glipctl/glipctl/internal/ckpt/pth"
	"github.com/glipctl/glipctl/internal/glip"
)

func open(t *testing.T, name string) *ckpt.Checkpoint {
	t.Helper()
	c, err := pth.Open(ckpttest.Fixture(t, name), ckpt.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestRemapMatchesConverter remaps the official fixture and compares it,
// name by name, in order, byte for byte, with mmpretrain_small.pth, which
// scripts/fixtures/make_fixtures.py made with torch by the rules of mmpretrain's
// glip_to_mmpretrain.py.
func TestRemapMatchesConverter(t *testing.T) {
	for _, src := range []string{"official_small.pth", "official_small_legacy.pth"} {
		_, sd := open(t, src).StateDict()
		kept, dropped, err := glip.RemapToMMPretrain(sd)
		if err != nil {
			t.Fatal(err)
		}
		prefix, want := open(t, "mmpretrain_small.pth").StateDict()
		if prefix != "state_dict/" {
			t.Fatalf("mmpretrain fixture state dict under %q", prefix)
		}
		if len(kept) != len(want) {
			t.Fatalf("%s: %d kept, converter keeps %d", src, len(kept), len(want))
		}
		reordered := 0
		for i, m := range kept {
			w := want[i]
			if m.To != w.Name || m.Tensor.Name != w.Name || m.Tensor.DType != w.DType || ckpt.ShapeString(m.Tensor.Shape) != ckpt.ShapeString(w.Shape) {
				t.Fatalf("%s: kept[%d] = %s %s %v, converter has %s %s %v", src, i, m.To, m.Tensor.DType, m.Tensor.Shape, w.Name, w.DType, w.Shape)
			}
			a, err := m.Tensor.ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			b, err := w.ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(a, b) {
				t.Errorf("%s: %s: values differ from the converter's", src, w.Name)
			}
			if m.Transform == glip.Reordered {
				reordered++
			}
		}
		// 3 patch mergings, each a reduction weight and a norm's weight and bias.
		if reordered != 9 {
			t.Errorf("%s: %d reordered tensors, want 9", src, reordered)
		}
		for _, d := range dropped {
			if _, keep, _ := glip.MMPretrainName(d.Name); keep {
				t.Errorf("dropped %s, which the converter keeps", d.Name)
			}
		}
		if len(dropped) == 0 {
			t.Error("nothing dropped: the fixture's language backbone, fpn and rpn should be")
		}
	}
}

// TestRemapRoundTrip: official -> mmpretrain -> official is bit-exact.
func TestRemapRoundTrip(t *testing.T) {
	_, sd := open(t, "official_small.pth").StateDict()
	kept, _, err := glip.RemapToMMPretrain(sd)
	if err != nil {
		t.Fatal(err)
	}
	mm := make([]*ckpt.Tensor, len(kept))
	for i, m := range kept {
		mm[i] = m.Tensor
	}
	back, dropped, err := glip.RemapToOfficial(mm)
	if err != nil || len(dropped) != 0 {
		t.Fatalf("inverse: %v, %d dropped", err, len(dropped))
	}
	for i, m := range back {
		if m.To != kept[i].From {
			t.Fatalf("round trip renames %s to %s", kept[i].From, m.To)
		}
		a, _ := m.Tensor.ReadAll()
		var orig *ckpt.Tensor
		for _, t := range sd {
			if t.Name == m.To {
				orig = t
			}
		}
		b, _ := orig.ReadAll()
		if !bytes.Equal(a, b) {
			t.Errorf("%s: round trip changed the values", m.To)
		}
	}
}

func TestRemapRejectsBadMergeWidth(t *testing.T) {
	w, _ := ckpt.FromFloat32("module.backbone.body.layers.0.downsample.reduction.weight", []int64{2, 6}, make([]float32, 12))
	if _, _, err := glip.RemapToMMPretrain([]*ckpt.Tensor{w}); err == nil {
		t.Fatal("a reduction weight of width 6 was accepted")
	}
}
