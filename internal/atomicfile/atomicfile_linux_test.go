//go:build linux

package atomicfile

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain runs the child of TestKilled when asked to.
func TestMain(m *testing.M) {
	if target := os.Getenv("ATOMICFILE_TEST_CHILD"); target != "" {
		killedChild(target)
		return
	}
	os.Exit(m.Run())
}

// killedChild writes target (with Replace) and, before committing, says
// "writing" on stdout and waits to be killed.
func killedChild(target string) {
	f, err := Create(context.Background(), target, Options{Replace: true})
	if err != nil {
		os.Stdout.WriteString("error " + err.Error() + "\n")
		os.Exit(1)
	}
	f.Write(bytes.Repeat([]byte("n"), 1<<20))
	os.Stdout.WriteString("writing\n")
	time.Sleep(time.Minute)
	os.Exit(2)
}

// TestKilled: a process killed with SIGKILL while writing leaves nothing
// in the directory (the file is unnamed), and the old target intact.
func TestKilled(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "out.bin")
	fi := writeOld(t, target, "old")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "ATOMICFILE_TEST_CHILD="+target)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	if line != "writing\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child said %q", line)
	}
	// The child holds its unnamed file open in dir.
	held := false
	fds, _ := os.ReadDir("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/fd")
	for _, e := range fds {
		if l, _ := os.Readlink("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/fd/" + e.Name()); strings.HasPrefix(l, dir+"/") && strings.HasSuffix(l, "(deleted)") {
			held = true
		}
	}
	if !held {
		t.Errorf("the child holds no unnamed file in %s", dir)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child: %v", err)
	}
	if names := listDir(t, dir); !reflect.DeepEqual(names, []string{"out.bin"}) {
		t.Errorf("killed writer left %v", names)
	}
	sameOld(t, target, fi, "old")
}

// tmpfs mounts a tmpfs of size bytes on a new directory (root only).
func tmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs (a full disk) needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	return dir
}

// TestFullDisk: on a full file system the error names the target (no
// space left on device), nothing is left, the old files are intact; in
// a group too.
func TestFullDisk(t *testing.T) {
	modes(t, func(t *testing.T) {
		dir := tmpfs(t, "1m")
		target := filepath.Join(dir, "out.bin")
		report := filepath.Join(dir, "out.bin.report.json")
		fi := writeOld(t, target, "old")
		fr := writeOld(t, report, "old report")
		big := bytes.Repeat([]byte("x"), 2<<20)
		err := WriteFile(context.Background(), target, big, Options{Replace: true})
		if !errors.Is(err, syscall.ENOSPC) {
			t.Errorf("full disk: %v", err)
		}
		noTempName(t, err, target)
		if strings.Count(err.Error(), "\n") != 0 || len(err.Error()) > 200 {
			t.Errorf("error not one short line: %q", err)
		}

		// The report does not fit after the output did.
		files := group(t, []string{target}, "new", Options{Replace: true})
		r, err := Create(context.Background(), report, Options{Replace: true})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Abort()
		if _, err = r.Write(big); err == nil {
			err = Commit(files[0], r)
		} else {
			r.Abort()
		}
		if !errors.Is(err, syscall.ENOSPC) {
			t.Errorf("full disk for the report: %v", err)
		}
		noTempName(t, err, report)
		files[0].Abort()
		sameOld(t, target, fi, "old")
		sameOld(t, report, fr, "old report")
		if names := listDir(t, dir); !reflect.DeepEqual(names, []string{"out.bin", "out.bin.report.json"}) {
			t.Errorf("left %v", names)
		}
	})
}
