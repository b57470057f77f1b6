//go:build !amd64 || purego

package stats

// haveStatsAsm: no assembly passes on this architecture or with -tags
// purego.
const haveStatsAsm = false

func statsPass1(p *float32, n int, out *pass1)               { panic("no assembly") }
func statsPass2(p *float32, n int, mean float64, out *pass2) { panic("no assembly") }
