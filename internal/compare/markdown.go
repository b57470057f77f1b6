package compare

import (
	"fmt"
	"io"
	"strings"
)

// maxMarkdownRows bounds the rows WriteMarkdown lists (a job summary holds
// at most 1 MiB): the failures first, then passing tensors up to the bound.
const maxMarkdownRows = 200

// WriteMarkdown writes a comparison as a Markdown section: a title, the
// verdict, the tolerance, and a table of the results (failures first).
// notes are listed after the table (names only on one side, ...).
func WriteMarkdown(w io.Writer, title string, ok bool, tol Tolerance, results []Result, notes []string) error {
	var b strings.Builder
	verdict := "✅ within tolerance"
	if !ok {
		verdict = "❌ out of tolerance"
	}
	fmt.Fprintf(&b, "### %s\n\n%s (|a - ref| <= %g + %g·|ref|)\n\n", mdText(title), verdict, tol.Atol, tol.Rtol)
	rows := make([]Result, 0, len(results))
	for _, r := range results {
		if !r.OK {
			rows = append(rows, r)
		}
	}
	for _, r := range results {
		if r.OK {
			rows = append(rows, r)
		}
	}
	if len(rows) > 0 {
		b.WriteString("| tensor | max abs diff | max rel diff | cosine | result |\n|---|---|---|---|---|\n")
		for i, r := range rows {
			if i == maxMarkdownRows {
				fmt.Fprintf(&b, "| … %d more | | | | |\n", len(rows)-i)
				break
			}
			res := "ok"
			switch {
			case !r.Compared():
				res = "FAIL: " + mdText(r.Problem)
			case !r.OK:
				res = fmt.Sprintf("FAIL: %d out of tolerance", r.Bad)
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", mdText(r.Name), mdNum(r.MaxAbs, "%.4g"), mdNum(r.MaxRel, "%.4g"), mdNum(r.Cosine, "%.8f"), res)
		}
		b.WriteString("\n")
	}
	for _, n := range notes {
		fmt.Fprintf(&b, "- %s\n", mdText(n))
	}
	if len(notes) > 0 {
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func mdNum[T ~float64](v T, format string) string {
	f := float64(v)
	if f != f || f > 1e308 || f < -1e308 {
		return "-"
	}
	return fmt.Sprintf(format, f)
}

// mdText keeps a value on one table cell.
func mdText(s string) string {
	return strings.NewReplacer("|", "\\|", "\n", " ", "\r", " ", "`", "'").Replace(s)
}
