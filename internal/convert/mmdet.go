package convert

import (
	"fmt"

	"github.com/glipctl/glipctl/internal/glip"
)

// planMMDet plans the whole GLIP detector in mmdetection's names.
func (p *Plan) planMMDet(b *glip.Backbone, opts PlanOptions) error {
	return fmt.Errorf("the mmdet layout from an official checkpoint is not implemented yet")
}
