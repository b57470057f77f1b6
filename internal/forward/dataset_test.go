package forward

import (
	"slices"
	"strings"
	"testing"
)

func TestParseShard(t *testing.T) {
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	for _, c := range []struct {
		in   string
		env  map[string]string
		want Shard
		err  string
	}{
		{"0/1", nil, Shard{0, 1}, ""},
		{"3/4", nil, Shard{3, 4}, ""},
		{"/4", map[string]string{"JOB_COMPLETION_INDEX": "2"}, Shard{2, 4}, ""},
		{"/4", map[string]string{"SLURM_ARRAY_TASK_ID": "1"}, Shard{1, 4}, ""},
		{"/4", map[string]string{"JOB_COMPLETION_INDEX": "0", "SLURM_ARRAY_TASK_ID": "3"}, Shard{0, 4}, ""},
		{"/4", nil, Shard{}, "none of JOB_COMPLETION_INDEX, SLURM_ARRAY_TASK_ID"},
		{"4/4", nil, Shard{}, "not in 0..3"},
		{"-1/4", nil, Shard{}, "not in 0..3"},
		{"1/0", nil, Shard{}, "positive"},
		{"1", nil, Shard{}, "not I/N"},
	} {
		env = c.env
		got, err := ParseShard(c.in, getenv)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: %v, want an error with %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%q: %v %v, want %v", c.in, got, err, c.want)
		}
	}
}

// TestShardRanges: the N slices are disjoint, in order, and cover the list,
// for any list length.
func TestShardRanges(t *testing.T) {
	for n := 0; n < 40; n++ {
		for count := 1; count <= 7; count++ {
			next := 0
			for i := 0; i < count; i++ {
				lo, hi := Shard{i, count}.Range(n)
				if lo != next || hi < lo {
					t.Fatalf("n=%d shard %d/%d: [%d, %d) after %d", n, i, count, lo, hi, next)
				}
				next = hi
			}
			if next != n {
				t.Fatalf("n=%d, %d shards cover %d", n, count, next)
			}
		}
	}
}

func TestReadListAndOutputNames(t *testing.T) {
	paths, err := ReadList(strings.NewReader("# list\n\n a/cat.jpg \nb/cat.jpg\r\nc/dog.png\n#x\n"))
	if err != nil || !slices.Equal(paths, []string{"a/cat.jpg", "b/cat.jpg", "c/dog.png"}) {
		t.Fatalf("%q %v", paths, err)
	}
	names := OutputNames(paths)
	if names[2] != "dog.png.safetensors" || !strings.HasPrefix(names[0], "cat.jpg-") || names[0] == names[1] ||
		!strings.HasSuffix(names[0], ".safetensors") || len(names[0]) != len("cat.jpg-12345678.safetensors") {
		t.Errorf("names %q", names)
	}
	// A name does not depend on the rest of the list beyond the clash.
	if again := OutputNames([]string{"x/y.png", "a/cat.jpg", "b/cat.jpg"}); again[1] != names[0] {
		t.Errorf("%q then %q", names[0], again[1])
	}
}
