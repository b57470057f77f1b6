//go:build linux

// Command avx512init is the PID 1 of the initramfs that
// scripts/ci/avx512_emulated.sh boots in the Bochs emulator (an AVX-512 CPU
// model) to run a Go test binary on a CPU that has AVX-512.
//
// It mounts /proc, /sys and /dev, puts the console on stdin, stdout and
// stderr, prints the guest's CPU flags, runs /pkg.test -test.v with the
// arguments listed in /testargs (one per NUL-terminated entry), prints
// "AVX512-EMULATED-EXIT <code>" and powers the machine off. The script
// reads those marker lines from the serial log.
//
// It is built statically (CGO_ENABLED=0) by the script; it is not meant to
// be run on a host.
package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

const (
	testBinary = "/pkg.test"
	argsFile   = "/testargs"
	workDir    = "/pkg" // the package directory (its testdata, if any)
)

func main() {
	setup()
	fmt.Printf("AVX512-INIT: up %s after kernel start\n", uptime())
	printFlags()
	code := runTest()
	// The marker the script waits for: keep its format.
	fmt.Printf("\nAVX512-EMULATED-EXIT %d\n", code)
	syscall.Sync()
	time.Sleep(200 * time.Millisecond) // let the UART drain
	err := syscall.Reboot(syscall.LINUX_REBOOT_CMD_POWER_OFF)
	fmt.Printf("AVX512-INIT: power off failed: %v\n", err)
	// PID 1 must not exit (the kernel would panic): wait to be killed.
	for {
		time.Sleep(time.Hour)
	}
}

// setup mounts the pseudo file systems and opens the console.
func setup() {
	for _, m := range []struct{ src, dir, fs string }{
		{"proc", "/proc", "proc"},
		{"sysfs", "/sys", "sysfs"},
		{"devtmpfs", "/dev", "devtmpfs"},
	} {
		if err := os.MkdirAll(m.dir, 0o755); err != nil {
			logf("mkdir %s: %v", m.dir, err)
		}
		if err := syscall.Mount(m.src, m.dir, m.fs, 0, ""); err != nil && !errors.Is(err, syscall.EBUSY) {
			logf("mount %s: %v", m.dir, err)
		}
	}
	// Without /dev/console in the initramfs the kernel gave us no stdio:
	// take the console now that devtmpfs is there.
	if f, err := os.OpenFile("/dev/console", os.O_RDWR, 0); err == nil {
		for fd := 0; fd <= 2; fd++ {
			_ = syscall.Dup3(int(f.Fd()), fd, 0)
		}
		f.Close()
	}
	for _, d := range []string{"/tmp", "/root", workDir} {
		_ = os.MkdirAll(d, 0o1777)
	}
}

// printFlags prints the CPU model and the vector flags of /proc/cpuinfo,
// then the whole flags line.
func printFlags() {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		fmt.Printf("AVX512-FLAGS: cannot read /proc/cpuinfo: %v\n", err)
		return
	}
	var model, flags string
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "model name":
			if model == "" {
				model = strings.TrimSpace(v)
			}
		case "flags":
			if flags == "" {
				flags = strings.TrimSpace(v)
			}
		}
	}
	var vec []string
	for _, f := range strings.Fields(flags) {
		if strings.HasPrefix(f, "avx") || f == "fma" || f == "f16c" || strings.HasPrefix(f, "sse4") {
			vec = append(vec, f)
		}
	}
	fmt.Printf("AVX512-CPU-MODEL: %s\n", model)
	fmt.Printf("AVX512-FLAGS: %s\n", strings.Join(vec, " "))
	fmt.Printf("AVX512-ALL-FLAGS: %s\n", flags)
}

// runTest runs the test binary and returns its exit code.
func runTest() int {
	args := []string{"-test.v"}
	if b, err := os.ReadFile(argsFile); err == nil {
		for _, a := range bytes.Split(b, []byte{0}) {
			if len(a) > 0 {
				args = append(args, string(a))
			}
		}
	}
	fmt.Printf("AVX512-INIT: running %s %s\n", testBinary, strings.Join(args, " "))
	cmd := exec.Command(testBinary, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Dir = workDir
	cmd.Env = []string{"PATH=/", "HOME=/root", "TMPDIR=/tmp"}
	start := time.Now()
	err := cmd.Run()
	fmt.Printf("AVX512-INIT: test binary ran %s (guest clock)\n", time.Since(start).Round(time.Millisecond))
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		if c := ee.ExitCode(); c >= 0 {
			return c
		}
		fmt.Printf("AVX512-INIT: %v\n", err)
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return 128
	default:
		fmt.Printf("AVX512-INIT: %v\n", err)
		return 127
	}
}

// uptime is the guest's /proc/uptime, the time since the kernel started.
func uptime() string {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0] + "s"
}

func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "AVX512-INIT: "+format+"\n", a...)
}
