package convert

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/glipctl/glipctl/internal/glip"
	"github.com/glipctl/glipctl/internal/swin"
	"github.com/glipctl/glipctl/internal/zoo"
)

// ecosystemNotes records what a conversion to another library's layout
// should tell its user: the input order, the tensors without a slot, the
// library's own keys GLIP has nothing for, and the window rule.
func (p *Plan) ecosystemNotes(format Format) {
	p.Window = glip.WindowRuleOf(p.Layout)
	switch {
	case format == FormatPTH && p.Layout.Ecosystem():
		p.Notes = append(p.Notes, fmt.Sprintf("a .pth carries no metadata: the input order (%s) and the window rule (%s) are recorded in this report only; convert it back with --from-input-order %s", p.InputOrder, p.Window.ID, p.InputOrder))
	case format == FormatPTH && p.Layout == glip.LayoutMMDet:
		p.Notes = append(p.Notes, fmt.Sprintf("the .pth is what glip_to_mmdet.py saves, with no metadata: its input order (bgr, GLIP's) and window rule (%s) are recorded in this report", p.Window.ID))
	}
	if !p.Layout.Ecosystem() {
		return
	}
	if p.InputOrder == glip.InputRGB {
		p.Notes = append(p.Notes, "input order rgb: the patch embedding's input channels are reversed, so the model takes RGB in [0, 1] normalised with ImageNet's mean and std (GLIP's BGR 0..255 mean and std / 255, reversed) and gives GLIP's features; --input-order bgr keeps GLIP's order")
	} else {
		p.Notes = append(p.Notes, "input order bgr: the model takes GLIP's input (BGR, 0..255, GLIP's mean and std), not the RGB ImageNet-normalised input of the library's own pipelines")
	}
	if len(p.NoSlot) > 0 {
		p.Notes = append(p.Notes, fmt.Sprintf("the %s layout has no slot for %d backbone tensors, dropped: %s", p.Layout, len(p.NoSlot), strings.Join(groupNames(p.NoSlot), ", ")))
	}
	switch p.Layout {
	case glip.LayoutTorchvision:
		p.Notes = append(p.Notes, "torchvision's SwinTransformer also has head.weight and head.bias, which GLIP has none of: load with strict=False (the only missing keys are head.*) or drop the head")
	case glip.LayoutTimm:
		p.Notes = append(p.Notes, "timm: the patch mergings stay under layers.N.downsample (GLIP's place), as timm's checkpoint_filter_fn expects of a file without head.fc.weight; it moves them to layers.N+1 on load")
	}
	if !p.Window.SameAsGLIP {
		p.Warnings = append(p.Warnings, fmt.Sprintf("window rule: %s %s; GLIP %s, so features differ where the rules do (%s)", p.Layout, p.Window.Summary, glip.RuleGLIP.Summary, p.windowWhere()))
	}
}

// windowWhere says where the output library's rule and GLIP's part ways at
// the model's native size.
func (p *Plan) windowWhere() string {
	size := p.imgSizeOrGuess()
	var small []string
	for i, s := range p.Arch.StageSizes(size, size) {
		if min(s[0], s[1]) <= p.Arch.Window {
			small = append(small, fmt.Sprintf("stage %d, %dx%d", i, s[0], s[1]))
		}
	}
	if len(small) == 0 {
		return fmt.Sprintf("on maps no larger than the %d-token window; none at %d px", p.Arch.Window, size)
	}
	return fmt.Sprintf("at %d px: %s, no larger than the %d-token window", size, strings.Join(small, "; "), p.Arch.Window)
}

// imgSizeOrGuess is the zoo model's image size, else the size whose last
// stage is one window (224 for window 7, 384 for window 12).
func (p *Plan) imgSizeOrGuess() int {
	if s := p.ImgSize(); s > 0 {
		return s
	}
	return imgSizeFor(p.Arch)
}

func imgSizeFor(a swin.Arch) int {
	return a.Window * max(a.PatchSize, 1) << max(len(a.Depths)-1, 0)
}

// OutputPreprocess is the input normalisation the output expects: the
// model's (GLIP's BGR) or, for an RGB export, ImageNet's on RGB in [0, 1].
func (p *Plan) OutputPreprocess() zoo.Preprocess {
	if p.InputOrder != glip.InputRGB {
		return p.Preprocess()
	}
	return zoo.Preprocess{Mean: glip.ImageNetMean[:], Std: glip.ImageNetStd[:], BGR: false}
}

var indexRe = regexp.MustCompile(`\.\d+\.`)

// groupNames shortens a list of names: names that differ only in their
// stage and block indices become one "stages.*.blocks.*" name with a
// count, in first-seen order.
func groupNames(names []string) []string {
	var order []string
	count := map[string]int{}
	for _, n := range names {
		g := n
		for {
			h := indexRe.ReplaceAllString(g, ".*.")
			if h == g {
				break
			}
			g = h
		}
		if count[g] == 0 {
			order = append(order, g)
		}
		count[g]++
	}
	out := make([]string, len(order))
	for i, g := range order {
		out[i] = g
		if count[g] > 1 {
			out[i] = fmt.Sprintf("%s (%d)", g, count[g])
		}
	}
	return out
}
