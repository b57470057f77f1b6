package report

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/glipctl/glipctl/internal/ckpt"
	"github.com/glipctl/glipctl/internal/ckpt/ckpttest"
	"github.com/glipctl/glipctl/internal/ckpt/pth"
)

// TestInspectUnsupported: the complex, quantized and sparse tensors that
// torch.load reports in testdata/unsupported.pth are listed by inspect, in
// JSON ("unsupported": [{name, reason}]) and in the table, and are not
// counted in the totals.
func TestInspectUnsupported(t *testing.T) {
	var want struct {
		Tensors     []struct{ Name string }       `json:"tensors"`
		Unsupported []struct{ Name, Kind string } `json:"unsupported"`
	}
	b, err := os.ReadFile(ckpttest.Fixture(t, "expected/unsupported.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	c, err := pth.Open(ckpttest.Fixture(t, "unsupported.pth"), ckpt.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	in, err := Inspect(context.Background(), c, InspectOptions{Stats: true})
	if err != nil {
		t.Fatal(err)
	}
	var js bytes.Buffer
	if err := in.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Unsupported []ckpt.Unsupported `json:"unsupported"`
		Totals      Totals             `json:"totals"`
	}
	if err := json.Unmarshal(js.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Unsupported) != len(want.Unsupported) || got.Totals.Tensors != len(want.Tensors) {
		t.Fatalf("JSON lists %d unsupported and %d tensors; torch: %d and %d", len(got.Unsupported), got.Totals.Tensors, len(want.Unsupported), len(want.Tensors))
	}
	var text bytes.Buffer
	if err := in.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for i, w := range want.Unsupported {
		if g := got.Unsupported[i]; g.Name != w.Name || !strings.HasPrefix(g.Reason, w.Kind) {
			t.Errorf("unsupported %d = %+v, torch: %s is %s", i, g, w.Name, w.Kind)
		}
		if !strings.Contains(text.String(), "\n"+w.Name+" ") {
			t.Errorf("table does not list %s", w.Name)
		}
	}
	if !strings.Contains(text.String(), "Unsupported tensors (") {
		t.Error("table has no unsupported section")
	}
}
