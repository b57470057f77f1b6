package zoo

import (
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/glipctl/glipctl/internal/swin"
)

func TestDefaultRegistry(t *testing.T) {
	es := Entries()
	names := Default().Names()
	if !slices.Equal(names, []string{"swin-t_glip-pre_3rdparty", "swin-l_glip-pre_3rdparty_384px"}) {
		t.Fatalf("names %q", names)
	}
	if es[0].Display != "Swin-T" || es[1].Display != "Swin-L" {
		t.Errorf("display names %q, %q", es[0].Display, es[1].Display)
	}
	dateHash := regexp.MustCompile(`_(\d{8})-([0-9a-f]{8})\.pth$`)
	for _, e := range es {
		// OpenMMLab convention: the 8 hex digits in the file name are the
		// start of the file's SHA-256.
		m := dateHash.FindStringSubmatch(e.Weights.Name)
		if m == nil || m[2] != e.Weights.SHA256 {
			t.Errorf("%s: file %q does not carry its sha256 prefix %q", e.Name, e.Weights.Name, e.Weights.SHA256)
		}
		if !strings.HasPrefix(e.Weights.Name, e.Name+"_") {
			t.Errorf("%s: weights file %q not named after the model", e.Name, e.Weights.Name)
		}
		if len(e.Weights.URLs) != 1 || !strings.HasPrefix(e.Weights.URLs[0], "https://download.openmmlab.com/mmclassification/v1/glip/") {
			t.Errorf("%s: weights URLs %q", e.Name, e.Weights.URLs)
		}
		for _, f := range []File{e.Weights, e.Official} {
			for _, u := range f.URLs {
				pu, err := url.Parse(u)
				if err != nil || pu.Scheme != "https" || path.Base(pu.Path) != f.Name {
					t.Errorf("%s: URL %q does not end in %q", e.Name, u, f.Name)
				}
			}
		}
		if e.Official.SHA256 != "" {
			t.Errorf("%s: official file has a hash %q, but none is published", e.Name, e.Official.SHA256)
		}
		if len(e.Official.URLs) != 2 ||
			e.Official.URLs[0] != "https://huggingface.co/GLIPModel/GLIP/resolve/main/"+e.Official.Name ||
			e.Official.URLs[1] != "https://penzhanwu2bbs.blob.core.windows.net/data/GLIPv1_Open/models/"+e.Official.Name {
			t.Errorf("%s: official URLs %q", e.Name, e.Official.URLs)
		}
		a := e.Arch
		if a.PatchSize != 4 || a.InChans != 3 || a.MLPRatio != 4 || len(a.Depths) != 4 {
			t.Errorf("%s: arch %+v", e.Name, a)
		}
		for i, h := range a.Heads {
			if (a.EmbedDim<<i)%h != 0 || (a.EmbedDim<<i)/h != 32 {
				t.Errorf("%s: stage %d: %d heads of width %d, GLIP uses head dim 32", e.Name, i, h, a.EmbedDim<<i)
			}
		}
		if e.ImgSize%(32*a.Window) != 0 {
			t.Errorf("%s: img_size %d: the last stage (1/32) is not a multiple of window %d", e.Name, e.ImgSize, a.Window)
		}
		if !slices.Equal(e.OutIndices, []int{1, 2, 3}) {
			t.Errorf("%s: out_indices %v", e.Name, e.OutIndices)
		}
		p := e.Preprocess
		if !p.BGR || len(p.Mean) != 3 || len(p.Std) != 3 || p.Mean[0] > p.Mean[2] {
			// BGR order: the blue mean (103.53) comes first.
			t.Errorf("%s: preprocess %+v", e.Name, p)
		}
	}
	if es[0].Official.Name != "glip_tiny_model_o365_goldg_cc_sbu.pth" || es[1].Official.Name != "glip_large_model.pth" {
		t.Errorf("official files %q, %q", es[0].Official.Name, es[1].Official.Name)
	}
}

// TestMatchFromShapes builds each entry's state-dict shapes with
// swin.ExpectedKeys, reads the architecture back with swin.ArchFromShapes
// and checks Match names the entry: the registry's arch is complete.
func TestMatchFromShapes(t *testing.T) {
	for _, e := range Entries() {
		shapes := map[string][]int64{}
		for _, k := range e.Arch.ExpectedKeys(e.OutIndices) {
			shapes[k.Name] = k.Shape
		}
		a, err := swin.ArchFromShapes(shapes)
		if err != nil {
			t.Fatalf("%s: %v", e.Name, err)
		}
		got, ok := Match(a)
		if !ok || got.Name != e.Name {
			t.Errorf("Match(%v) = %q, %v; want %q", a, got.Name, ok, e.Name)
		}
		a.MLPRatio = 2
		if got, ok := Match(a); ok {
			t.Errorf("Match with mlp_ratio 2 = %q", got.Name)
		}
	}
	if _, ok := Match(swin.Arch{EmbedDim: 128, Depths: []int{2, 2, 18, 2}, Heads: []int{4, 8, 16, 32}, Window: 7, PatchSize: 4, InChans: 3, MLPRatio: 4}); ok {
		t.Error("Swin-B matched a zoo entry")
	}
}

func TestLookup(t *testing.T) {
	e, ok := Lookup("swin-l_glip-pre_3rdparty_384px")
	if !ok || e.Display != "Swin-L" || e.ImgSize != 384 {
		t.Fatalf("Lookup = %+v, %v", e, ok)
	}
	// Entries are copies.
	e.Arch.Depths[0] = 99
	e2, _ := Lookup("swin-l_glip-pre_3rdparty_384px")
	if e2.Arch.Depths[0] == 99 {
		t.Error("Lookup returned shared slices")
	}
	for _, bad := range []string{"", "swin-t", "Swin-T", "official:swin-t_glip-pre_3rdparty"} {
		if _, ok := Lookup(bad); ok {
			t.Errorf("Lookup(%q) found something", bad)
		}
	}
}

func TestNewRegistryRejects(t *testing.T) {
	good := testEntry("https://h/w.pth", "abcd1234", "https://h")
	if _, err := NewRegistry([]Entry{good}); err != nil {
		t.Fatal(err)
	}
	for name, mod := range map[string]func(e *Entry){
		"name with colon":  func(e *Entry) { e.Name = "a:b" },
		"path in file":     func(e *Entry) { e.Weights.Name = "../w.pth" },
		"dot-dot file":     func(e *Entry) { e.Official.Name = ".." },
		"reserved name":    func(e *Entry) { e.Weights.Name = "manifest.json" },
		"part name":        func(e *Entry) { e.Weights.Name = "w.pth.part" },
		"no URL":           func(e *Entry) { e.Weights.URLs = nil },
		"ftp URL":          func(e *Entry) { e.Weights.URLs = []string{"ftp://h/w.pth"} },
		"upper-case hash":  func(e *Entry) { e.Weights.SHA256 = "ABCD1234" },
		"depths and heads": func(e *Entry) { e.Arch.Heads = e.Arch.Heads[:2] },
	} {
		e := testEntry("https://h/w.pth", "abcd1234", "https://h")
		mod(&e)
		if _, err := NewRegistry([]Entry{e}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := NewRegistry([]Entry{good, good}); err == nil {
		t.Error("duplicate names accepted")
	}
	if _, err := ParseRegistry([]byte(`{"models": [{"name": "x", "bogus": 1}]}`)); err == nil {
		t.Error("unknown field accepted")
	}
}
