// Package ghactions speaks to a GitHub Actions runner through its workflow
// commands and environment files, so that glipctl in a workflow step
// reports errors and warnings as annotations, adds its reports to the job
// summary and passes values to later steps (docs:
// docs.github.com/actions/reference/workflow-commands-for-github-actions;
// the escaping is that of actions/toolkit packages/core/src/command.ts).
//
//   - An annotation is one line "::error file=F::message" (or ::warning),
//     printed on standard error: the runner reads workflow commands on both
//     streams, and standard output stays clean for --format json. In the
//     message, "%", CR and LF are written %25, %0D and %0A; in a property
//     value (the file name) also ":" and "," as %3A and %2C.
//   - The job summary is the Markdown file named by $GITHUB_STEP_SUMMARY,
//     appended to; outputs are "name=value" lines appended to the file named
//     by $GITHUB_OUTPUT, or "name<<DELIM", the lines, "DELIM" for a value
//     holding a newline.
//
// Nothing of it happens outside Actions: FromEnv returns nil unless
// $GITHUB_ACTIONS is "true", and every method of a nil *Env does nothing.
package ghactions

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
)

// Env is a GitHub Actions step's environment; nil outside Actions.
type Env struct {
	// Summary and Output are the paths of the step's summary and output
	// files ("" when the runner set none).
	Summary, Output string
}

// FromEnv returns the step's environment read with getenv, or nil when
// not running in GitHub Actions.
func FromEnv(getenv func(string) string) *Env {
	if getenv("GITHUB_ACTIONS") != "true" {
		return nil
	}
	return &Env{Summary: getenv("GITHUB_STEP_SUMMARY"), Output: getenv("GITHUB_OUTPUT")}
}

// EscapeData escapes a workflow command's message.
func EscapeData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

// EscapeProperty escapes a workflow command's property value.
func EscapeProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}

// Annotation returns the workflow command of an annotation of kind
// ("error", "warning" or "notice") about file ("" for none).
func Annotation(kind, file, msg string) string {
	if file == "" {
		return fmt.Sprintf("::%s::%s", kind, EscapeData(msg))
	}
	return fmt.Sprintf("::%s file=%s::%s", kind, EscapeProperty(file), EscapeData(msg))
}

// Annotate writes an annotation line to w (nothing outside Actions).
func (e *Env) Annotate(w io.Writer, kind, file, msg string) {
	if e == nil {
		return
	}
	fmt.Fprintln(w, Annotation(kind, file, msg))
}

// AppendSummary appends Markdown to the job summary.
func (e *Env) AppendSummary(markdown []byte) error {
	if e == nil || e.Summary == "" {
		return nil
	}
	return appendFile(e.Summary, markdown)
}

// SetOutput sets the step output name to value.
func (e *Env) SetOutput(name, value string) error {
	if e == nil || e.Output == "" {
		return nil
	}
	if strings.ContainsAny(name, "=\r\n") || name == "" {
		return fmt.Errorf("bad output name %q", name)
	}
	line := name + "=" + value + "\n"
	if strings.ContainsAny(value, "\r\n") {
		var b [12]byte
		if _, err := rand.Read(b[:]); err != nil {
			return err
		}
		delim := "ghadelimiter_" + hex.EncodeToString(b[:])
		line = name + "<<" + delim + "\n" + value + "\n" + delim + "\n"
	}
	return appendFile(e.Output, []byte(line))
}

func appendFile(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Close()
}
