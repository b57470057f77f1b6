package pth

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/glipctl/glipctl/internal/ckpt"
)

// pk assembles protocol-2 pickles opcode by opcode, so tests can write the
// malformed and hostile pickles no honest pickler produces.
type pk struct{ bytes.Buffer }

func newPk() *pk { p := &pk{}; p.Write([]byte{0x80, 2}); return p }

func (p *pk) op(b ...byte) *pk { p.Write(b); return p }
func (p *pk) str(s string) *pk {
	p.WriteByte('X')
	binary.Write(&p.Buffer, binary.LittleEndian, uint32(len(s)))
	p.WriteString(s)
	return p
}
func (p *pk) int1(v byte) *pk             { return p.op('K', v) }
func (p *pk) global(mod, name string) *pk { p.WriteString("c" + mod + "\n" + name + "\n"); return p }

// tensor pushes _rebuild_tensor_v2(storage(key, FloatStorage, numel), off, (n,), (1,), False, OrderedDict()).
func (p *pk) tensor(key string, numel, off, n byte) *pk {
	p.global("torch._utils", "_rebuild_tensor_v2")
	p.op('(')
	p.op('(').str("storage").global("torch", "FloatStorage").str(key).str("cpu").int1(numel).op('t', 'Q')
	p.int1(off).int1(n).op(0x85).int1(1).op(0x85).op(0x89)
	p.global("collections", "OrderedDict").op(')', 'R')
	p.op('t', 'R')
	return p
}

// stateDict wraps one tensor in a dict {"w": tensor}.
func stateDict(key string, numel, off, n byte) []byte {
	p := newPk()
	p.op('}').str("w").tensor(key, numel, off, n).op('s', '.')
	return p.Bytes()
}

// torchZip builds a torch zip archive from a data.pkl and storages.
func torchZip(t *testing.T, pkl []byte, storages map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	add := func(name string, b []byte) {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b)
	}
	add("archive/data.pkl", pkl)
	for k, v := range storages {
		add("archive/data/"+k, v)
	}
	add("archive/version", []byte("3\n"))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func readBytes(b []byte, strict bool) (*ckpt.Checkpoint, error) {
	return Read(bytes.NewReader(b), int64(len(b)), "x.pth", ckpt.OpenOptions{Strict: strict})
}

func TestHandBuiltZipReads(t *testing.T) {
	data := make([]byte, 16)
	for i := range 4 {
		binary.LittleEndian.PutUint32(data[4*i:], 0x3f800000+uint32(i)<<20)
	}
	c, err := readBytes(torchZip(t, stateDict("0", 4, 1, 3), map[string][]byte{"0": data}), false)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Tensors) != 1 || c.Tensors[0].Name != "w" || ckpt.ShapeString(c.Tensors[0].Shape) != "[3]" {
		t.Fatalf("got %+v", c.Tensors)
	}
	raw, err := c.Tensors[0].ReadAll()
	if err != nil || !bytes.Equal(raw, data[4:]) {
		t.Fatalf("ReadAll = %x, %v; want %x", raw, err, data[4:])
	}
}

func TestBadInput(t *testing.T) {
	good := make([]byte, 16)
	hostile := func(mod, name string) []byte {
		p := newPk()
		p.op('}').str("w").tensor("0", 4, 0, 4).op('s')
		p.op('(').str("cmd").global(mod, name).str("echo pwned").op(0x85, 'R').op('u', '.')
		return p.Bytes()
	}
	nested := func(depth int) []byte {
		p := newPk()
		for range depth {
			p.op(']')
		}
		for range depth - 1 {
			p.op('a')
		}
		p.op('.')
		return p.Bytes()
	}
	// laughs builds l0 = []; l(i+1) = [l(i), l(i)] 60 times: a tiny pickle
	// whose naive walk would visit 2^60 values.
	laughs := func() []byte {
		p := newPk()
		p.op(']', 'q', 0)
		for i := range 60 {
			p.op(']', 'h', byte(i), 'a', 'h', byte(i), 'a', 'q', byte(i+1))
		}
		p.op('.')
		return p.Bytes()
	}
	cases := []struct {
		name string
		file []byte
		want string
	}{
		{"empty", nil, "file too short"},
		{"text", []byte("hello world, not a checkpoint"), "not a PyTorch checkpoint"},
		{"corrupt zip", append([]byte("PK\x03\x04"), bytes.Repeat([]byte{0xee}, 200)...), "not a valid PyTorch zip archive"},
		{"zip without data.pkl", func() []byte {
			var buf bytes.Buffer
			zw := zip.NewWriter(&buf)
			w, _ := zw.Create("hello.txt")
			w.Write([]byte("hi"))
			zw.Close()
			return buf.Bytes()
		}(), "no <dir>/data.pkl"},
		{"missing storage", torchZip(t, stateDict("7", 4, 0, 4), map[string][]byte{"0": good}), `storage "7" is missing from the archive`},
		{"storage too small", torchZip(t, stateDict("0", 200, 0, 4), map[string][]byte{"0": good}), "declares 200 elements"},
		{"view past storage", torchZip(t, stateDict("0", 4, 2, 4), map[string][]byte{"0": good}), "reaches element 6 of a 4-element storage"},
		{"unknown opcode", torchZip(t, []byte{0x80, 2, 0xff, '.'}, nil), "unknown pickle opcode"},
		{"huge string length", torchZip(t, []byte{0x80, 2, 'X', 0xff, 0xff, 0xff, 0x7f, '.'}, nil), "runs past the end"},
		{"huge frame", torchZip(t, []byte{0x80, 4, 0x95, 0, 0, 0, 0, 0, 0, 0, 0x10, '.'}, nil), "runs past the end"},
		{"no stop", torchZip(t, []byte{0x80, 2, '}'}, nil), "without STOP"},
		{"memo get before put", torchZip(t, []byte{0x80, 2, 'h', 9, '.'}, nil), "memo index 9 read before it was set"},
		{"odd dict items", torchZip(t, []byte{0x80, 2, '(', 'K', 1, 'd', '.'}, nil), "malformed pickle"},
		{"empty stack", torchZip(t, []byte{0x80, 2, 'a', '.'}, nil), "x.pth"},
		{"deep nesting", torchZip(t, nested(1000), nil), "nested more than"},
		{"billion laughs", torchZip(t, laughs(), nil), "object graph has more than"},
		{"posix.system strict", nil, "refused global posix.system"},
		{"legacy without magic", []byte{0x80, 2, 'K', 1, '.'}, "no legacy magic number"},
		{"legacy truncated", []byte{0x80, 2, 0x8a, 10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20}, "runs past the end"},
	}
	cases[16].file = torchZip(t, hostile("posix", "system"), map[string][]byte{"0": good})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readBytes(tc.file, tc.name == "posix.system strict")
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) || !strings.HasPrefix(msg, "x.pth: ") || strings.Contains(msg, "\n") {
				t.Fatalf("error %q: want one line starting with the file name and containing %q", msg, tc.want)
			}
		})
	}
}

func TestRefusedGlobalsAreInert(t *testing.T) {
	for _, g := range [][2]string{{"posix", "system"}, {"builtins", "eval"}, {"os", "system"}, {"subprocess", "Popen"}} {
		p := newPk()
		p.op('}').str("w").tensor("0", 4, 0, 4).op('s')
		p.str("cmd").global(g[0], g[1]).str("touch /tmp/glipctl-pwned").op(0x85, 'R').op('s', '.')
		c, err := readBytes(torchZip(t, p.Bytes(), map[string][]byte{"0": make([]byte, 16)}), false)
		if err != nil {
			t.Fatalf("%s.%s: %v", g[0], g[1], err)
		}
		want := "refused global " + g[0] + "." + g[1]
		if len(c.Warnings) != 1 || c.Warnings[0] != want {
			t.Errorf("warnings %q, want [%q]", c.Warnings, want)
		}
		if len(c.Tensors) != 1 {
			t.Errorf("tensors %d, want the one honest tensor", len(c.Tensors))
		}
		found := false
		for _, l := range c.Leaves {
			if l.Name == "cmd" && l.Kind == "refused" {
				found = true
			}
		}
		if !found {
			t.Errorf("no refused leaf named cmd in %+v", c.Leaves)
		}
	}
}
