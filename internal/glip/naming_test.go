package glip_test

import (
	"bytes"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/glipctl/glipctl/internal/ckpt"
	"github.com/glipctl/glipctl/internal/glip"
	"github.com/glipctl/glipctl/internal/swin"
)

// canonical returns the official fixture's backbone in canonical names.
func canonical(t *testing.T) []*ckpt.Tensor {
	t.Helper()
	b, err := glip.NewBackbone(open(t, "official_small.pth"))
	if err != nil {
		t.Fatal(err)
	}
	return b.Tensors()
}

// TestExportImport names the fixture's backbone in every ecosystem layout
// and reads it back: the same canonical names, shapes and bytes, less the
// tensors without a slot (timm's relative_position_index comes back
// generated, equal to the original).
func TestExportImport(t *testing.T) {
	canon := canonical(t)
	for _, l := range []glip.Layout{glip.LayoutHF, glip.LayoutHFModel, glip.LayoutTimm, glip.LayoutTorchvision} {
		for _, rgb := range []bool{false, true} {
			kept, noSlot, err := glip.Export(l, canon, glip.ExportOptions{RGB: rgb})
			if err != nil {
				t.Fatal(err)
			}
			var sd []*ckpt.Tensor
			var keys []string
			for _, m := range kept {
				sd = append(sd, m.Tensor)
				keys = append(keys, m.To)
			}
			if got := glip.DetectLayout(keys); got != l {
				t.Errorf("%s: exported keys detected as %s", l, got)
			}
			back, dropped, err := glip.Import(l, sd, rgb)
			if err != nil {
				t.Fatal(err)
			}
			if len(dropped) != 0 {
				t.Errorf("%s: import dropped %d tensors", l, len(dropped))
			}
			byName := map[string]*ckpt.Tensor{}
			for _, m := range back {
				byName[m.To] = m.Tensor
			}
			missing := map[string]bool{}
			for _, n := range noSlot {
				missing[n.Name] = true
			}
			for _, c := range canon {
				g := byName[c.Name]
				if g == nil {
					if !missing[c.Name] {
						t.Errorf("%s: %s lost", l, c.Name)
					}
					continue
				}
				a, _ := c.ReadAll()
				b, err := g.ReadAll()
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(a, b) || !slices.Equal(c.Shape, g.Shape) || c.DType != g.DType {
					t.Errorf("%s rgb=%v: %s differs after the round trip", l, rgb, c.Name)
				}
			}
		}
	}
}

// TestExportNames checks a few names of each layout against the names
// the libraries' modules have (modeling_swin.py, swin_transformer.py of
// timm and torchvision).
func TestExportNames(t *testing.T) {
	want := map[glip.Layout][]string{
		glip.LayoutHF: {"embeddings.patch_embeddings.projection.weight", "embeddings.norm.bias",
			"encoder.layers.1.blocks.0.attention.self.query.weight", "encoder.layers.1.blocks.0.attention.self.value.bias",
			"encoder.layers.0.downsample.reduction.weight", "hidden_states_norms.stage2.weight", "hidden_states_norms.stage4.bias",
			"encoder.layers.3.blocks.1.attention.self.relative_position_index"},
		glip.LayoutHFModel: {"swin.embeddings.patch_embeddings.projection.weight", "swin.encoder.layers.2.blocks.1.output.dense.weight", "swin.layernorm.weight"},
		glip.LayoutTimm:    {"patch_embed.proj.weight", "layers.0.downsample.norm.weight", "layers.2.blocks.1.mlp.fc2.bias", "norm.weight"},
		glip.LayoutTorchvision: {"features.0.0.weight", "features.0.2.bias", "features.1.0.mlp.0.weight", "features.7.1.mlp.3.bias",
			"features.2.reduction.weight", "features.6.norm.bias", "norm.weight", "features.5.1.attn.relative_position_index"},
	}
	canon := canonical(t)
	for l, names := range want {
		kept, _, err := glip.Export(l, canon, glip.ExportOptions{})
		if err != nil {
			t.Fatal(err)
		}
		have := map[string][]int64{}
		for _, m := range kept {
			have[m.To] = m.Tensor.Shape
		}
		for _, n := range names {
			if _, ok := have[n]; !ok {
				t.Errorf("%s: no %s", l, n)
			}
		}
		for n, s := range have {
			if strings.HasSuffix(n, "relative_position_index") {
				if l == glip.LayoutTorchvision && len(s) != 1 || l != glip.LayoutTorchvision && len(s) != 2 {
					t.Errorf("%s: %s has shape %v", l, n, s)
				}
			}
		}
	}
}

// TestTimmMoved reads timm names in both places of the patch merging.
func TestTimmMoved(t *testing.T) {
	canon := canonical(t)
	kept, _, err := glip.Export(glip.LayoutTimm, canon, glip.ExportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var sd []*ckpt.Tensor
	for _, m := range kept {
		tt := *m.Tensor
		// timm's checkpoint_filter_fn: layers.N.downsample -> layers.N+1.
		for i := 2; i >= 0; i-- {
			old := "layers." + string(rune('0'+i)) + ".downsample."
			if strings.HasPrefix(tt.Name, old) {
				tt.Name = "layers." + string(rune('1'+i)) + ".downsample." + strings.TrimPrefix(tt.Name, old)
				break
			}
		}
		sd = append(sd, &tt)
	}
	names := make([]string, len(sd))
	for i, tt := range sd {
		names[i] = tt.Name
	}
	if !glip.TimmMoved(names) {
		t.Fatal("moved names not recognised")
	}
	back, dropped, err := glip.Import(glip.LayoutTimm, sd, false)
	if err != nil || len(dropped) != 0 {
		t.Fatalf("import: %v, %d dropped", err, len(dropped))
	}
	for _, m := range back {
		if strings.Contains(m.To, "downsample") && !strings.HasPrefix(m.To, "backbone.stages.0.") && !strings.HasPrefix(m.To, "backbone.stages.1.") && !strings.HasPrefix(m.To, "backbone.stages.2.") {
			t.Errorf("%s -> %s", m.From, m.To)
		}
	}
}

func TestRelativePositionIndex(t *testing.T) {
	for _, w := range []int{1, 2, 7, 12} {
		if !slices.Equal(glip.RelativePositionIndex(w), swin.RelativePositionIndex(w)) {
			t.Errorf("window %d: differs from swin.RelativePositionIndex", w)
		}
	}
}

// TestImageNetConstants: ImageNet's mean and std are GLIP's BGR 0..255
// ones divided by 255, reversed.
func TestImageNetConstants(t *testing.T) {
	for i := 0; i < 3; i++ {
		if math.Abs(float64(glip.MeanBGR[2-i])/255-glip.ImageNetMean[i]) > 1e-7 || math.Abs(float64(glip.StdBGR[2-i])/255-glip.ImageNetStd[i]) > 1e-7 {
			t.Errorf("channel %d: %v/255, %v/255 vs %v, %v", i, glip.MeanBGR[2-i], glip.StdBGR[2-i], glip.ImageNetMean[i], glip.ImageNetStd[i])
		}
	}
}

func TestDetectEcosystemLayouts(t *testing.T) {
	for want, keys := range map[glip.Layout][]string{
		glip.LayoutTorchvision: {"features.0.0.weight", "features.1.0.norm1.weight"},
		glip.LayoutHF:          {"embeddings.patch_embeddings.projection.weight"},
		glip.LayoutHFModel:     {"swin.embeddings.patch_embeddings.projection.weight"},
		glip.LayoutTimm:        {"patch_embed.proj.weight", "layers.0.blocks.0.norm1.weight"},
		glip.LayoutMMDet:       {"backbone.stages.0.blocks.0.norm1.weight", "neck.lateral_convs.0.conv.weight"},
		glip.LayoutMMPretrain:  {"backbone.stages.0.blocks.0.norm1.weight"},
		glip.LayoutOther:       {"fc.weight"},
	} {
		if got := glip.DetectLayout(keys); got != want {
			t.Errorf("%v: %s, want %s", keys, got, want)
		}
	}
}
