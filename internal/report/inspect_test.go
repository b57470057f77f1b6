package report

import (
	"context"
	"slices"
	"testing"

	"github.com/glipctl/glipctl/internal/ckpt"
	"github.com/glipctl/glipctl/internal/ckpt/ckpttest"
	"github.com/glipctl/glipctl/internal/ckpt/pth"
	"github.com/glipctl/glipctl/internal/swin"
)

func TestInspectArchAndKeys(t *testing.T) {
	for _, name := range []string{"official_small.pth", "mmpretrain_small.pth", "official_small_bf16.pth"} {
		c, err := pth.Open(ckpttest.Fixture(t, name), ckpt.OpenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		in, err := Inspect(context.Background(), c, InspectOptions{NameArch: func(a swin.Arch) string { return "Swin-Small-Fixture" }})
		if err != nil {
			t.Fatal(err)
		}
		// scripts/fixtures/make_fixtures.py builds embed 8, depths 2,2,2,2, heads 1,2,4,8, window 7.
		want := swin.Arch{EmbedDim: 8, Depths: []int{2, 2, 2, 2}, Heads: []int{1, 2, 4, 8}, Window: 7, PatchSize: 4, InChans: 3, MLPRatio: 4}
		if in.Arch == nil || !in.Arch.Equal(want) || in.Arch.PatchSize != 4 || in.Arch.MLPRatio != 4 || in.Arch.Name != "Swin-Small-Fixture" {
			t.Errorf("%s: arch %+v (%s), want %+v", name, in.Arch, in.ArchError, want)
		}
		if len(in.MissingKeys)+len(in.UnexpectedKeys)+len(in.ShapeMismatches) != 0 {
			t.Errorf("%s: missing %v unexpected %v mismatched %v", name, in.MissingKeys, in.UnexpectedKeys, in.ShapeMismatches)
		}
	}
}

// TestInspectFindsMissingAndUnexpected removes and adds keys to a complete
// official backbone and checks the report names them as the file spells them.
func TestInspectFindsMissingAndUnexpected(t *testing.T) {
	c, err := pth.Open(ckpttest.Fixture(t, "official_small.pth"), ckpt.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	drop := map[string]bool{
		"model/module.backbone.body.layers.1.blocks.0.attn.qkv.bias":      true,
		"model/module.backbone.body.norm3.weight":                         true,
		"model/module.backbone.body.layers.2.downsample.reduction.weight": true,
	}
	var kept []*ckpt.Tensor
	for _, tn := range c.Tensors {
		if drop[tn.Name] {
			continue
		}
		if tn.Name == "model/module.backbone.body.layers.0.blocks.1.norm2.bias" {
			cp := *tn
			cp.Shape = []int64{3}
			tn = &cp
		}
		kept = append(kept, tn)
	}
	extra, _ := ckpt.FromFloat32("model/module.backbone.body.norm0.weight", []int64{8}, make([]float32, 8))
	kept = append(kept, extra)
	c.Tensors = kept
	in, err := Inspect(context.Background(), c, InspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var wantMissing []string
	for k := range drop {
		wantMissing = append(wantMissing, k)
	}
	slices.Sort(wantMissing)
	got := slices.Clone(in.MissingKeys)
	slices.Sort(got)
	if !slices.Equal(got, wantMissing) {
		t.Errorf("missing %v, want %v", got, wantMissing)
	}
	if !slices.Equal(in.UnexpectedKeys, []string{"model/module.backbone.body.norm0.weight"}) {
		t.Errorf("unexpected %v", in.UnexpectedKeys)
	}
	if len(in.ShapeMismatches) != 1 || in.ShapeMismatches[0].Name != "model/module.backbone.body.layers.0.blocks.1.norm2.bias" {
		t.Errorf("shape mismatches %+v", in.ShapeMismatches)
	}
}
