package report

import (
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"

	"github.com/glipctl/glipctl/internal/ckpt"
	"github.com/glipctl/glipctl/internal/stats"
)

// WriteText writes the inspection for people: a summary, an aligned table
// of tensors, then the other values, metadata and warnings.
func (in *Inspection) WriteText(w io.Writer) error {
	return in.write(w, false)
}

// WriteMarkdown writes the inspection as Markdown (a heading, lists and a
// table), for reports and pull-request comments.
func (in *Inspection) WriteMarkdown(w io.Writer) error {
	return in.write(w, true)
}

func (in *Inspection) write(w io.Writer, md bool) error {
	ew := &errWriter{w: w}
	if md {
		ew.printf("## %s\n\n", in.File)
	} else {
		ew.printf("%s\n", in.File)
	}
	item := func(k, v string) {
		if md {
			ew.printf("- **%s**: %s\n", k, v)
		} else {
			ew.printf("  %-11s %s\n", k+":", v)
		}
	}
	item("format", string(in.Format))
	layout := string(in.Layout)
	if in.StateDictPrefix != "" {
		layout += fmt.Sprintf(" (state dict under %q)", strings.TrimSuffix(in.StateDictPrefix, "/"))
	}
	item("layout", layout)
	switch {
	case in.Arch != nil:
		name := "Swin"
		if in.Arch.Name != "" {
			name = in.Arch.Name
		}
		item("arch", fmt.Sprintf("%s (%s, patch %d, mlp ratio %d)", name, in.Arch.Arch, in.Arch.PatchSize, in.Arch.MLPRatio))
		item("keys", fmt.Sprintf("%d missing, %d unexpected, %d wrong shape", len(in.MissingKeys), len(in.UnexpectedKeys), len(in.ShapeMismatches)))
	case in.ArchError != "":
		item("arch", "not read: "+in.ArchError)
	}
	item("totals", fmt.Sprintf("%d tensors, %d elements, %s", in.Totals.Tensors, in.Totals.Elements, humanBytes(in.Totals.Bytes)))
	ew.printf("\n")

	stats := len(in.Tensors) > 0 && in.Tensors[0].Stats != nil
	head := []string{"NAME", "DTYPE", "SHAPE", "NUMEL", "BYTES"}
	if stats {
		head = append(head, "MIN", "MAX", "MEAN", "STD", "ABSMAX", "ZEROS", "NAN", "INF")
	}
	rows := make([][]string, 0, len(in.Tensors))
	for _, t := range in.Tensors {
		name := t.Name
		if t.Stored != "" {
			name += " (" + t.Stored + ")"
		}
		r := []string{name, t.DType, ckpt.ShapeString(t.Shape), fmt.Sprint(t.Numel), fmt.Sprint(t.Bytes)}
		if s := t.Stats; s != nil {
			r = append(r, num(s.Min), num(s.Max), num(s.Mean), num(s.Std), num(s.AbsMax), fmt.Sprint(s.Zeros), fmt.Sprint(s.NaN), fmt.Sprint(s.Inf))
		}
		rows = append(rows, r)
	}
	table(ew, md, head, rows)
	if len(in.Unsupported) > 0 {
		ew.printf("\nUnsupported tensors (%d, not read):\n", len(in.Unsupported))
		if md {
			ew.printf("\n")
		}
		var ur [][]string
		for _, u := range in.Unsupported {
			ur = append(ur, []string{u.Name, u.Reason})
		}
		table(ew, md, []string{"NAME", "REASON"}, ur)
	}

	list := func(title string, items []string) {
		if len(items) == 0 {
			return
		}
		ew.printf("\n%s (%d):\n", title, len(items))
		if md {
			ew.printf("\n")
		}
		for _, s := range items {
			if md {
				ew.printf("- `%s`\n", s)
			} else {
				ew.printf("  %s\n", s)
			}
		}
	}
	list("Missing keys", in.MissingKeys)
	list("Unexpected keys", in.UnexpectedKeys)
	var mism []string
	for _, m := range in.ShapeMismatches {
		mism = append(mism, fmt.Sprintf("%s: %s, expected %s", m.Name, ckpt.ShapeString(m.Shape), ckpt.ShapeString(m.Expected)))
	}
	list("Wrong shapes", mism)
	if len(in.Leaves) > 0 {
		ew.printf("\nOther values (%d):\n", len(in.Leaves))
		if md {
			ew.printf("\n")
		}
		var lr [][]string
		for _, l := range in.Leaves {
			lr = append(lr, []string{l.Name, l.Kind, l.Value})
		}
		table(ew, md, []string{"NAME", "KIND", "VALUE"}, lr)
	}
	if len(in.Metadata) > 0 {
		var ms []string
		for _, k := range sortedKeys(in.Metadata) {
			ms = append(ms, k+" = "+in.Metadata[k])
		}
		list("Metadata", ms)
	}
	list("Warnings", in.Warnings)
	return ew.err
}

// table writes an aligned table (tabwriter) or a Markdown table.
func table(ew *errWriter, md bool, head []string, rows [][]string) {
	if md {
		ew.printf("| %s |\n|%s\n", strings.Join(head, " | "), strings.Repeat(" --- |", len(head)))
		for _, r := range rows {
			for i := range r {
				r[i] = strings.ReplaceAll(r[i], "|", `\|`)
			}
			ew.printf("| %s |\n", strings.Join(r, " | "))
		}
		return
	}
	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
}

func num(n stats.Number) string {
	if !n.Finite() {
		return "-"
	}
	f := float64(n)
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return fmt.Sprintf("%.0f", f)
	}
	return fmt.Sprintf("%.6g", f)
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func sortedKeys(m map[string]string) []string {
	c := &ckpt.Checkpoint{Metadata: m}
	return c.MetadataKeys()
}

// errWriter keeps the first write error so rendering code stays linear.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

func (e *errWriter) printf(format string, a ...any) {
	fmt.Fprintf(e, format, a...)
}
