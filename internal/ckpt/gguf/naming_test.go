package gguf

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"
)

// swinNames lists the tensor names of an mmpretrain Swin backbone with the
// given depths and per-output norms, as mmpretrain's state_dict has them
// (see glip-facts.md, section 2).
func swinNames(depths []int, outIndices []int) []string {
	names := []string{
		"backbone.patch_embed.projection.weight", "backbone.patch_embed.projection.bias",
		"backbone.patch_embed.norm.weight", "backbone.patch_embed.norm.bias",
	}
	for i, depth := range depths {
		for j := 0; j < depth; j++ {
			p := fmt.Sprintf("backbone.stages.%d.blocks.%d.", i, j)
			for _, s := range []string{
				"norm1.weight", "norm1.bias",
				"attn.w_msa.relative_position_bias_table", "attn.w_msa.relative_position_index",
				"attn.w_msa.qkv.weight", "attn.w_msa.qkv.bias",
				"attn.w_msa.proj.weight", "attn.w_msa.proj.bias",
				"norm2.weight", "norm2.bias",
				"ffn.layers.0.0.weight", "ffn.layers.0.0.bias",
				"ffn.layers.1.weight", "ffn.layers.1.bias",
			} {
				names = append(names, p+s)
			}
		}
		if i < len(depths)-1 {
			p := fmt.Sprintf("backbone.stages.%d.downsample.", i)
			names = append(names, p+"norm.weight", p+"norm.bias", p+"reduction.weight")
		}
	}
	for _, k := range outIndices {
		names = append(names, fmt.Sprintf("backbone.norm%d.weight", k), fmt.Sprintf("backbone.norm%d.bias", k))
	}
	return names
}

func countMatches(s string, long bool) int {
	n := 0
	for _, r := range namingRules {
		p := r.short
		if long {
			p = r.long
		}
		if _, ok := match(p, s); ok {
			n++
		}
	}
	return n
}

// checkInverse checks that ShortName and LongName undo each other on x.
func checkInverse(t *testing.T, x string) string {
	t.Helper()
	s := ShortName(x)
	if got, ok := LongName(s); !ok || got != x {
		t.Fatalf("LongName(ShortName(%q) = %q) = %q, %v", x, s, got, ok)
	}
	if l, ok := LongName(x); ok && ShortName(l) != x {
		t.Fatalf("ShortName(LongName(%q) = %q) = %q", x, l, ShortName(l))
	}
	if countMatches(x, true) > 1 || countMatches(x, false) > 1 {
		t.Fatalf("%q matches more than one rule", x)
	}
	return s
}

func TestNamingSwin(t *testing.T) {
	for _, depths := range [][]int{{2, 2, 18, 2}, {2, 2, 6, 2}} {
		names := swinNames(depths, []int{0, 1, 2, 3})
		shorts := map[string]string{}
		longest := ""
		for _, n := range names {
			s := checkInverse(t, n)
			if s == n {
				t.Errorf("%q is not shortened", n)
			}
			if len(s) > MaxNameLen {
				t.Errorf("%q shortens to %q, %d bytes", n, s, len(s))
			}
			if prev, dup := shorts[s]; dup {
				t.Errorf("%q and %q both shorten to %q", prev, n, s)
			}
			shorts[s] = n
			if len(n) > len(longest) {
				longest = n
			}
		}
		t.Logf("depths %v: %d names, longest %q (%d bytes) -> %q", depths, len(names), longest, len(longest), ShortName(longest))
	}
	const big = "backbone.stages.2.blocks.17.attn.w_msa.relative_position_bias_table"
	if len(big) <= MaxNameLen {
		t.Fatalf("%q is only %d bytes", big, len(big))
	}
	if s := ShortName(big); s != "s2.b17.attn.rpb_table" {
		t.Errorf("ShortName(%q) = %q", big, s)
	}
}

func TestNamingPassThrough(t *testing.T) {
	for _, n := range []string{
		"", "foo", "blk.0.attn_q.weight", "model/backbone.norm3.weight",
		"backbone.norm.weight", "backbone.norm3", "backbone.norm3.", "backbone.norm3.a.b",
		"backbone.stages.x.blocks.1.norm1.weight", "backbone.stages.1.blocks.1.norm3.weight",
		"backbone.stages.1.blocks.1.attn.w_msa.relative_position_bias_table.x",
		"module.backbone.body.layers.2.blocks.17.attn.relative_position_bias_table",
		"s", "s1", "s1.b2", "pe.proj", "norm.weight",
	} {
		if s := checkInverse(t, n); s != n {
			t.Errorf("ShortName(%q) = %q, want it unchanged", n, s)
		}
	}
	// Names that look short, or start with the escape, are escaped.
	for _, n := range []string{"s0.b0.norm1.weight", "norm3.bias", "pe.proj.weight", "s1.down.norm.bias", "~", "~x", "~~s0.b0.attn.rp_index"} {
		if s := checkInverse(t, n); s != "~"+n {
			t.Errorf("ShortName(%q) = %q, want it escaped", n, s)
		}
	}
	// Names ShortName never returns.
	for _, n := range []string{"backbone.norm3.weight", "backbone.stages.0.blocks.0.attn.w_msa.relative_position_index", "~x", "~backbone.norm1.bias", "~"} {
		if got, ok := LongName(n); ok || got != n {
			t.Errorf("LongName(%q) = %q, %v; want it refused", n, got, ok)
		}
	}
}

// TestNamingRandom builds names from the pieces the patterns are made of,
// so that near misses of every rule are tried.
func TestNamingRandom(t *testing.T) {
	pieces := []string{
		"backbone.", "stages.", "blocks.", "downsample.", "patch_embed.", "projection.", "norm", "norm.",
		"norm1.", "attn.", "w_msa.", "qkv.", "proj.", "relative_position_bias_table", "relative_position_index",
		"ffn.", "layers.", "0.", "1.", "0", "17", "12.", "weight", "bias", ".", "s", "b", "s2.", "b17.", "pe.",
		"down.", "reduction.", "rpb_table", "rp_index", "fc1.", "fc2.", "~", "x", "",
	}
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 50000; i++ {
		var b strings.Builder
		for k := rng.Intn(12); k >= 0; k-- {
			b.WriteString(pieces[rng.Intn(len(pieces))])
		}
		checkInverse(t, b.String())
	}
}

func FuzzNaming(f *testing.F) {
	for _, n := range swinNames([]int{2, 2, 2, 2}, []int{1, 2, 3}) {
		f.Add(n)
		f.Add(ShortName(n))
	}
	f.Add("~s0.b0.norm1.weight")
	f.Fuzz(func(t *testing.T, s string) {
		checkInverse(t, s)
	})
}
