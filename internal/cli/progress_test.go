package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/glipctl/glipctl/internal/zoo"
)

func TestLineProgress(t *testing.T) {
	var buf bytes.Buffer
	p := NewProgress(&buf, false, time.Nanosecond)
	p(zoo.Progress{File: "f", Done: 0, Total: 2048})
	time.Sleep(time.Millisecond)
	p(zoo.Progress{File: "f", Done: 1024, Total: 2048})
	p(zoo.Progress{File: "f", Done: 2048, Total: 2048, Final: true})
	want := "f: 1.0 KiB of 2.0 KiB (50%)\nf: 2.0 KiB done\n"
	if buf.String() != want {
		t.Errorf("progress lines %q, want %q", buf.String(), want)
	}
	// A terminal bar writes something and does not panic on unknown sizes.
	buf.Reset()
	p = NewProgress(&buf, true, 0)
	p(zoo.Progress{File: "f", Done: 0, Total: -1})
	p(zoo.Progress{File: "f", Done: 100, Total: -1})
	p(zoo.Progress{File: "f", Done: 100, Total: -1, Final: true})
	p(zoo.Progress{File: "g", Done: 0, Total: 100})
	p(zoo.Progress{File: "g", Done: 100, Total: 100, Final: true})
	if !strings.Contains(buf.String(), "g") {
		t.Errorf("no bar drawn: %q", buf.String())
	}
}
