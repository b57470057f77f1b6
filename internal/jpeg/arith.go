package jpeg

type arithState struct{}

func (a *arithState) reset(d *decoder, sc *scan) {}

func (d *decoder) arithBlockFn(sc *scan, br *bitReader) blockFn {
	return func(c *component, si int, blk []int16) error {
		return d.unsupported(sc.dataStart, "arithmetic coding")
	}
}
