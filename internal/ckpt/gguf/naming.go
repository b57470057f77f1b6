package gguf

import "strings"

// NamingKey is the metadata key that declares the tensor naming scheme of a
// file glipctl wrote; NamingShortV1 is the only scheme so far.
const (
	NamingKey     = "glipctl.naming"
	NamingShortV1 = "short-v1"
)

// escape marks a stored name that is the original name itself although it
// looks like a short name (see ShortName).
const escape = "~"

// A namingRule pairs a long (mmpretrain) pattern with its short form. In a
// pattern "#" stands for a run of decimal digits and a final "*" for a
// non-empty run of characters other than '.'; both are copied verbatim.
type namingRule struct{ long, short string }

// namingRules is the short-v1 scheme, documented in the package comment.
// No name matches two long patterns, nor two short ones.
var namingRules = []namingRule{
	{"backbone.patch_embed.projection.*", "pe.proj.*"},
	{"backbone.patch_embed.norm.*", "pe.norm.*"},
	{"backbone.stages.#.blocks.#.norm1.*", "s#.b#.norm1.*"},
	{"backbone.stages.#.blocks.#.norm2.*", "s#.b#.norm2.*"},
	{"backbone.stages.#.blocks.#.attn.w_msa.qkv.*", "s#.b#.attn.qkv.*"},
	{"backbone.stages.#.blocks.#.attn.w_msa.proj.*", "s#.b#.attn.proj.*"},
	{"backbone.stages.#.blocks.#.attn.w_msa.relative_position_bias_table", "s#.b#.attn.rpb_table"},
	{"backbone.stages.#.blocks.#.attn.w_msa.relative_position_index", "s#.b#.attn.rp_index"},
	{"backbone.stages.#.blocks.#.ffn.layers.0.0.*", "s#.b#.ffn.fc1.*"},
	{"backbone.stages.#.blocks.#.ffn.layers.1.*", "s#.b#.ffn.fc2.*"},
	{"backbone.stages.#.downsample.reduction.*", "s#.down.reduction.*"},
	{"backbone.stages.#.downsample.norm.*", "s#.down.norm.*"},
	{"backbone.norm#.*", "norm#.*"},
}

// ShortName returns the short-v1 name of a tensor name (see the package
// comment). It is one-to-one, and LongName undoes it.
func ShortName(long string) string {
	for _, r := range namingRules {
		if caps, ok := match(r.long, long); ok {
			return fill(r.short, caps)
		}
	}
	if strings.HasPrefix(long, escape) || isShortForm(long) {
		return escape + long
	}
	return long
}

// LongName undoes ShortName. It returns false (and short unchanged) for a
// name that ShortName never returns: a long-form name, or an escaped name
// that needed no escape.
func LongName(short string) (string, bool) {
	if rest, ok := strings.CutPrefix(short, escape); ok {
		if strings.HasPrefix(rest, escape) || isShortForm(rest) {
			return rest, true
		}
		return short, false
	}
	for _, r := range namingRules {
		if caps, ok := match(r.short, short); ok {
			return fill(r.long, caps), true
		}
	}
	for _, r := range namingRules {
		if _, ok := match(r.long, short); ok {
			return short, false
		}
	}
	return short, true
}

func isShortForm(s string) bool {
	for _, r := range namingRules {
		if _, ok := match(r.short, s); ok {
			return true
		}
	}
	return false
}

// match matches s against pattern and returns the texts that its "#" and
// "*" stand for, in order.
func match(pattern, s string) ([]string, bool) {
	var caps []string
	for pattern != "" {
		switch pattern[0] {
		case '#':
			n := 0
			for n < len(s) && s[n] >= '0' && s[n] <= '9' {
				n++
			}
			if n == 0 {
				return nil, false
			}
			caps = append(caps, s[:n])
			s, pattern = s[n:], pattern[1:]
		case '*': // always last
			if s == "" || strings.Contains(s, ".") {
				return nil, false
			}
			return append(caps, s), true
		default:
			lit := pattern
			if i := strings.IndexAny(pattern, "#*"); i >= 0 {
				lit = pattern[:i]
			}
			if !strings.HasPrefix(s, lit) {
				return nil, false
			}
			s, pattern = s[len(lit):], pattern[len(lit):]
		}
	}
	return caps, s == ""
}

// fill substitutes caps for the "#" and "*" of pattern, in order.
func fill(pattern string, caps []string) string {
	var b strings.Builder
	for i := 0; i < len(pattern); i++ {
		if c := pattern[i]; c == '#' || c == '*' {
			b.WriteString(caps[0])
			caps = caps[1:]
			continue
		}
		b.WriteByte(pattern[i])
	}
	return b.String()
}
