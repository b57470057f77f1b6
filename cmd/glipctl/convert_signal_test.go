//go:build linux

package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/glipctl/glipctl/internal/swin"
)

// writeSwinT writes an mmpretrain-layout Swin-T backbone (the real
// dimensions: 28 M parameters, 110 MB of f32) as safetensors, laid out by
// hand from the format's definition (8-byte little-endian header length,
// JSON header, data), so that converting it takes long enough to be
// interrupted.
func writeSwinT(t *testing.T, path string) {
	t.Helper()
	arch := swin.Arch{EmbedDim: 96, Depths: []int{2, 2, 6, 2}, Heads: []int{3, 6, 12, 24}, Window: 7, PatchSize: 4, InChans: 3, MLPRatio: 4}
	type entry struct {
		DType   string   `json:"dtype"`
		Shape   []int64  `json:"shape"`
		Offsets [2]int64 `json:"data_offsets"`
	}
	header := map[string]entry{}
	keys := arch.ExpectedKeys([]int{1, 2, 3})
	var off int64
	for _, k := range keys {
		n := int64(1)
		for _, d := range k.Shape {
			n *= d
		}
		dt, size := "F32", int64(4)
		if strings.HasSuffix(k.Name, "relative_position_index") {
			dt, size = "I64", 8
		}
		header[k.Name] = entry{dt, k.Shape, [2]int64{off, off + n*size}}
		off += n * size
	}
	hj, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	for len(hj)%8 != 0 {
		hj = append(hj, ' ')
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	binary.Write(w, binary.LittleEndian, uint64(len(hj)))
	w.Write(hj)
	// Values: a cheap sequence of finite floats; relative indices valid.
	relIndex := swin.RelativePositionIndex(arch.Window)
	i := 0
	for _, k := range keys {
		e := header[k.Name]
		buf := make([]byte, e.Offsets[1]-e.Offsets[0])
		if e.DType == "I64" {
			for j := 0; j < len(buf)/8; j++ {
				binary.LittleEndian.PutUint64(buf[8*j:], uint64(relIndex[j%len(relIndex)]))
			}
		} else {
			for j := 0; j < len(buf)/4; j++ {
				i++
				binary.LittleEndian.PutUint32(buf[4*j:], math.Float32bits(float32(i%1021)/1021-0.5))
			}
		}
		w.Write(buf)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// dirState is the identity, size and modification time of every entry
// of a directory.
func dirState(t *testing.T, dir string) map[string]string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, e := range es {
		fi, err := os.Lstat(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		m[e.Name()] = fmt.Sprintf("ino %d size %d mtime %d", st.Ino, fi.Size(), fi.ModTime().UnixNano())
	}
	return m
}

func sameState(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	var names []string
	for n := range got {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(got) != len(want) {
		t.Errorf("%s: directory holds %v, want %d files as before", what, names, len(want))
	}
	for n, w := range want {
		if got[n] != w {
			t.Errorf("%s: %s is %q, was %q", what, n, got[n], w)
		}
	}
}

// outputWrite returns the size of the largest file being written for
// DST in dir by the process pid: open without a name (O_TMPFILE), or
// else under a hidden temporary name beside DST (named is then true); -1
// if there is none.
func outputWrite(pid int, dir, dst string) (size int64, named bool) {
	fdDir := "/proc/" + strconv.Itoa(pid) + "/fd"
	es, _ := os.ReadDir(fdDir)
	size = -1
	for _, e := range es {
		p := filepath.Join(fdDir, e.Name())
		l, err := os.Readlink(p)
		if err != nil || !strings.HasPrefix(l, dir+"/") {
			continue
		}
		unnamed := strings.HasSuffix(l, " (deleted)")
		if !unnamed && !strings.HasPrefix(filepath.Base(l), "."+filepath.Base(dst)+".tmp-") {
			continue
		}
		if fi, err := os.Stat(p); err == nil && fi.Size() > size {
			size, named = fi.Size(), !unnamed
		}
	}
	return size, named
}

// TestConvertInterrupted (Linux: it watches the child through /proc)
// runs glipctl convert --force over the files of
// an earlier conversion of a real-size Swin-T, stops it while it writes
// the output (seen in /proc: an unnamed file in DST's directory, not yet
// full), and sends it SIGINT (then, in a second run, SIGKILL). Either way
// the directory is left exactly as it was: DST and its reports are the
// same files, nothing new, no temporary file. After SIGINT glipctl exits 1
// with one line naming DST.
func TestConvertInterrupted(t *testing.T) {
	bin := buildGlipctl(t)
	work := t.TempDir()
	src := filepath.Join(work, "swin_t.safetensors")
	writeSwinT(t, src)
	env := append(os.Environ(), "GLIPCTL_CACHE="+filepath.Join(work, "cache"))

	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			dir := t.TempDir()
			dst := filepath.Join(dir, "swin_t.pth")
			first := exec.Command(bin, "convert", src, "-o", dst, "--no-sync", "-q")
			first.Env = env
			if out, err := first.CombinedOutput(); err != nil {
				t.Fatalf("first conversion: %v %s", err, out)
			}
			fi, err := os.Stat(dst)
			if err != nil {
				t.Fatal(err)
			}
			full := fi.Size()
			before := dirState(t, dir)

			cmd := exec.Command(bin, "convert", src, "-o", dst, "--force")
			cmd.Env = env
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			pid := cmd.Process.Pid
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			// Wait until the output is being written, then freeze the child
			// to be sure it still is when the signal comes.
			caught, named := int64(-1), false
			for deadline := time.Now().Add(20 * time.Second); caught < 0 && time.Now().Before(deadline) && len(exited) == 0; {
				if n, _ := outputWrite(pid, dir, dst); n > 0 && n < full {
					syscall.Kill(pid, syscall.SIGSTOP)
					if n, nm := outputWrite(pid, dir, dst); n > 0 && n < full {
						caught, named = n, nm
						break
					}
					syscall.Kill(pid, syscall.SIGCONT)
				}
				time.Sleep(200 * time.Microsecond)
			}
			if caught < 0 {
				cmd.Process.Kill()
				<-exited
				t.Fatalf("never saw the child writing its output (stderr %q)", stderr.String())
			}
			t.Logf("signalled with %d of %d bytes written (named temporary file: %v)", caught, full, named)
			syscall.Kill(pid, sig)
			syscall.Kill(pid, syscall.SIGCONT)
			err = <-exited
			if named && sig == syscall.SIGKILL {
				t.Skipf("%s has no O_TMPFILE: a killed process leaves its hidden temporary file there (as documented)", dir)
			}
			var ee *exec.ExitError
			if !errors.As(err, &ee) {
				t.Fatalf("child after %v: %v, stderr %q", sig, err, stderr.String())
			}
			if sig == syscall.SIGINT {
				want := "glipctl: " + dst + ": interrupted; nothing written\n"
				if ee.ExitCode() != exitError || stderr.String() != want {
					t.Errorf("after SIGINT: exit %d, stderr %q, want exit 1 and %q", ee.ExitCode(), stderr.String(), want)
				}
			} else if ws := ee.Sys().(syscall.WaitStatus); ws.Signal() != syscall.SIGKILL {
				t.Errorf("child not killed: %v", err)
			}
			sameState(t, sig.String(), dirState(t, dir), before)
		})
	}
}

// tmpfs mounts a tmpfs of size on a new directory (root only).
func tmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("a full disk is a small tmpfs, and mounting one needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	return dir
}

// TestConvertFullDisk converts onto a 1 MiB tmpfs holding an earlier
// output and its reports, filled so that the new output does not fit
// (then so that it fits and its JSON report does not): one line naming
// the file that did not fit, exit 1, the old files intact, nothing left.
func TestConvertFullDisk(t *testing.T) {
	src := fixture("official_small.pth")
	// The sizes of the files, from a conversion elsewhere.
	ref := filepath.Join(t.TempDir(), "ref.pth")
	if code, _, errOut := runCmd(t, "convert", src, "-o", ref, "-q"); code != exitOK {
		t.Fatal(errOut)
	}
	size := func(p string) int64 {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	outSize := size(ref)
	for _, c := range []struct {
		name   string
		free   int64 // bytes left free for the new files
		failed func(dst string) string
	}{
		{"output", outSize / 2, func(dst string) string { return dst }},
		{"report", outSize + 16<<10, func(dst string) string { return dst + ".report.json" }},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := tmpfs(t, "1m")
			dst := filepath.Join(dir, "out.pth")
			for _, p := range []string{dst, dst + ".report.json", dst + ".report.md"} {
				if err := os.WriteFile(p, []byte("old "+filepath.Base(p)), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			var st syscall.Statfs_t
			if err := syscall.Statfs(dir, &st); err != nil {
				t.Fatal(err)
			}
			fill := int64(st.Bavail)*int64(st.Bsize) - c.free
			if fill < 0 {
				t.Fatalf("the tmpfs has only %d bytes free", int64(st.Bavail)*int64(st.Bsize))
			}
			if err := os.WriteFile(filepath.Join(dir, "filler"), make([]byte, fill), 0o644); err != nil {
				t.Fatal(err)
			}
			before := dirState(t, dir)
			code, out, errOut := runCmd(t, "convert", src, "-o", dst, "--force")
			want := "glipctl: " + c.failed(dst) + ": writing: no space left on device\n"
			if code != exitError || out != "" || errOut != want {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 1 and %q", code, out, errOut, want)
			}
			sameState(t, "after the full disk", dirState(t, dir), before)
			for _, p := range []string{dst, dst + ".report.json", dst + ".report.md"} {
				if b, _ := os.ReadFile(p); string(b) != "old "+filepath.Base(p) {
					t.Errorf("%s now holds %d bytes", p, len(b))
				}
			}
		})
	}
}

// TestConvertForceOntoDirectory: a directory where DST goes is "is a
// directory", with or without --force, and so is a directory where a
// report goes with --force (without it, the existing DST is the error);
// nothing changes.
func TestConvertForceOntoDirectory(t *testing.T) {
	src := fixture("official_small.pth")
	for _, which := range []string{"", ".report.md"} {
		for _, force := range []bool{false, true} {
			if which != "" && !force {
				continue
			}
			dir := t.TempDir()
			dst := filepath.Join(dir, "out.safetensors")
			if code, _, errOut := runCmd(t, "convert", src, "-o", dst, "-q"); code != exitOK {
				t.Fatal(errOut)
			}
			target := dst + which
			os.Remove(target)
			os.Mkdir(target, 0o755)
			before := dirState(t, dir)
			args := []string{"convert", src, "-o", dst}
			if force {
				args = append(args, "--force")
			}
			code, _, errOut := runCmd(t, args...)
			if want := "glipctl: " + target + ": is a directory\n"; code != exitError || errOut != want {
				t.Errorf("%s a directory, force %v: exit %d, %q, want %q", target, force, code, errOut, want)
			}
			sameState(t, target, dirState(t, dir), before)
		}
	}
}
