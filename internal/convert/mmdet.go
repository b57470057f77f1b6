package convert

import (
	"fmt"
	"strings"

	"github.com/glipctl/glipctl/internal/ckpt"
	"github.com/glipctl/glipctl/internal/glip"
)

// planMMDet plans the whole GLIP detector in mmdetection's names, as
// mmdetection's tools/model_converters/glip_to_mmdet.py converts it
// (glip.RemapToMMDet): every state-dict tensor in order, the backbone
// renamed and its patch mergings reordered, the FPN as the neck, BERT as
// the language model, the DyHead/VL-fusion head as bbox_head; the
// script's dropped keys never read.
func (p *Plan) planMMDet(sd []*ckpt.Tensor, opts PlanOptions) error {
	kept, dropped, err := glip.RemapToMMDet(sd)
	if err != nil {
		return err
	}
	p.addDropped(dropped)
	source := make(map[string]*ckpt.Tensor, len(sd))
	for _, t := range sd {
		source[t.Name] = t
	}
	var canon []canonTensor
	parts := map[string]int{}
	for _, m := range kept {
		src := source[m.From]
		o := &Output{From: m.From, To: m.To, Transform: m.Transform, Src: src, Reorder: m.Transform == glip.Reordered}
		if err := p.addOutput(o, m.To, opts.Format); err != nil {
			return err
		}
		part, _, _ := strings.Cut(m.To, ".")
		parts[part]++
		if part == "backbone" {
			canon = append(canon, canonTensor{name: m.To, shape: src.Shape, from: m.From})
		}
	}
	if err := p.checkArch(canon, opts.Match); err != nil {
		return err
	}
	if parts["neck"]+parts["language_model"]+parts["bbox_head"] == 0 {
		p.Notes = append(p.Notes, "the source has no FPN, language backbone or head: the mmdet file holds the backbone part (backbone.*) only")
	}
	p.Notes = append(p.Notes, fmt.Sprintf("the whole detector as glip_to_mmdet.py writes it: %d backbone, %d neck, %d language_model, %d bbox_head tensors; %d dropped (its skipped keys, pooler, anchor_generator, resizer, cls_logits)",
		parts["backbone"], parts["neck"], parts["language_model"], parts["bbox_head"], len(dropped)))
	p.ecosystemNotes(opts.Format)
	return nil
}

// mmdetToOfficial are the non-backbone tensors of an mmdet source named
// back to the official layout (glip.OfficialNameOfMMDet); the others stay
// dropped.
func (p *Plan) mmdetToOfficial(b *glip.Backbone, format Format) ([]*ckpt.Tensor, error) {
	var still []*ckpt.Tensor
	for _, t := range b.Dropped {
		n, ok := glip.OfficialNameOfMMDet(t.Name)
		if !ok {
			still = append(still, t)
			continue
		}
		o := &Output{From: t.Name, To: n, Transform: glip.Renamed, Src: t}
		if err := p.addOutput(o, n, format); err != nil {
			return nil, err
		}
	}
	return still, nil
}
