package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
)

// The command-line checks every command shares: argument counts and
// --format values. Each failure is a usage error (exit 2) that says what
// the command wanted.

// exactArgs wants n positional arguments; want says what they are ("two
// files, A and B").
func exactArgs(n int, cmd, want string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != n {
			return usageError("%s needs %s (got %d arguments)", cmd, want, len(args))
		}
		return nil
	}
}

// minArgs wants at least n positional arguments.
func minArgs(n int, cmd, want string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) < n {
			return usageError("%s needs %s", cmd, want)
		}
		return nil
	}
}

// checkFormat accepts a --format value among allowed.
func checkFormat(got string, allowed ...string) error {
	if slices.Contains(allowed, got) {
		return nil
	}
	return usageError("--format must be %s, not %q", orList(allowed), got)
}

// orList writes "a, b or c".
func orList(v []string) string {
	switch len(v) {
	case 0:
		return ""
	case 1:
		return v[0]
	}
	return fmt.Sprintf("%s or %s", strings.Join(v[:len(v)-1], ", "), v[len(v)-1])
}

// writeJSONLine writes v as one line of JSON (the --format json output of
// every command).
func writeJSONLine(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}
