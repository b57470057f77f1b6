#!/usr/bin/env bash
# Runs a Go package's tests on an emulated AVX-512 CPU, for machines (like
# ours) whose CPU has no AVX-512: the test binary boots as the only program
# of a tiny Linux system in the Bochs x86 emulator with an AVX-512 CPU
# model (default corei7_skylake_x: AVX-512 F/CD/BW/DQ/VL, AVX2, FMA).
#
# How: `CGO_ENABLED=0 go test -c` builds the package's test binary and
# scripts/ci/avx512init (a static PID 1) is built beside it; both go into a
# gzip'd cpio initramfs, which with a Debian kernel (linux-image-*-amd64,
# downloaded with apt-get download and unpacked, never installed) goes on
# an isolinux CD image; Bochs boots it (Debian's Bochs has no "nogui"
# display: its curses display runs on a pseudo-terminal from script(1)),
# the serial console into a file that is printed here as it grows. The
# init prints the guest's CPU flags, runs `/pkg.test -test.v ARGS`, prints
# "AVX512-EMULATED-EXIT <code>" and powers off.
#
# Slow: Bochs runs ~30-45 million instructions a second here. Booting takes
# 2.5-4 min (mostly the kernel's xz decompression); the gemm tests with
# -short 5-7 min; without -short well over an hour (the 1023x1025x257
# products and TestGELU's full sweep, float64 references in emulated
# FP). Quick check of the AVX-512 kernel (~4-5 min in all):
#   scripts/ci/avx512_emulated.sh ./internal/gemm -short -run /avx512
# Test durations printed by the test binary are guest-clock times and
# mean nothing; the summary gives wall times per top-level test.
#
# Needs: Linux amd64, go, root or sudo for apt-get (installs, if missing:
# bochs bochs-term (its display library "term", which the bochsrc uses) bochsbios vgabios isolinux syslinux-common xorriso cpio), Debian's
# package lists (no other network). The kernel is cached in
# ${XDG_CACHE_HOME:-$HOME/.cache}/glipctl-avx512/, so only the first run
# downloads it (~70 MB .deb).
#
# Usage: scripts/ci/avx512_emulated.sh [PKG] [go test flags...]
#   PKG defaults to ./internal/gemm (relative to the repo root). Flags are
#   the test binary's: -run X, -short, -count 1 ... are passed as
#   -test.run X, -test.short, ...; -test.v is always on. Example:
#     scripts/ci/avx512_emulated.sh ./internal/gemm -short -run 'MatMulT|Packed'
# Environment:
#   TIMEOUT     overall limit in seconds, build included (default 2400)
#   BOCHS_CPU   Bochs CPU model (default corei7_skylake_x)
#   BOCHS_IPS   Bochs' ips (default 60000000): with clock sync=none it
#               only sets the timers' pace against instructions
#   BOCHS_MEGS  guest memory in MB (default 1024)
#   KERNEL      a vmlinuz to boot instead of the cached Debian one
#   KERNEL_CMDLINE_EXTRA  appended to the kernel command line (e.g.
#               loglevel=7 to see the boot messages)
#   KEEP_WORK=1 keep the work directory (serial.log, bochs.log, the ISO)
# Exit status: 0 only when the guest saw avx512f and the tests passed;
# 1 on test failure, timeout, kernel panic, missing marker or emulator
# failure; 2 on a usage mistake.
set -euo pipefail

t_start=$(date +%s)
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"

pkg=./internal/gemm
if [[ $# -gt 0 && $1 != -* ]]; then
	pkg=$1
	shift
fi
timeout_s=${TIMEOUT:-2400}
cpu_model=${BOCHS_CPU:-corei7_skylake_x}
ips=${BOCHS_IPS:-60000000}
megs=${BOCHS_MEGS:-1024}
[[ $timeout_s =~ ^[0-9]+$ && $ips =~ ^[0-9]+$ && $megs =~ ^[0-9]+$ ]] || {
	echo "avx512_emulated: TIMEOUT, BOCHS_IPS and BOCHS_MEGS must be integers" >&2
	exit 2
}
cache=${XDG_CACHE_HOME:-$HOME/.cache}/glipctl-avx512

say() { printf 'avx512_emulated: %s\n' "$*" >&2; }
die() {
	say "$*"
	exit 1
}

# Go test flags -> test binary flags (-run X -> -test.run X).
args=()
for a in "$@"; do
	if [[ $a =~ ^--?(bench|benchmem|benchtime|blockprofile|count|coverprofile|cpu|cpuprofile|failfast|fullpath|list|memprofile|mutexprofile|parallel|run|short|shuffle|skip|timeout|trace|v)(=.*)?$ ]]; then
		a=-test.${a#"${a%%[!-]*}"}
	fi
	args+=("$a")
done

work=$(mktemp -d /tmp/avx512_emulated.XXXXXX)
bochs_pid=
tail_pid=
stop_bochs() { # Bochs runs under script(1): end its children, then it
	local c
	for c in $(ps -o pid= --ppid "$bochs_pid" 2>/dev/null); do
		kill "$c" 2>/dev/null || true
	done
	kill "$bochs_pid" 2>/dev/null || true
}
cleanup() {
	[[ -n $tail_pid ]] && kill "$tail_pid" 2>/dev/null || true
	[[ -n $bochs_pid ]] && stop_bochs
	if [[ ${KEEP_WORK:-0} == 1 ]]; then
		say "work directory kept: $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- 1. Packages and kernel ------------------------------------------------
as_root() {
	if [[ $(id -u) == 0 ]]; then
		"$@"
	elif command -v sudo >/dev/null; then
		sudo "$@"
	else
		die "need root or sudo to run: $*"
	fi
}
need=()
for p in bochs bochs-term bochsbios vgabios isolinux syslinux-common xorriso cpio; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if [[ ${#need[@]} -gt 0 ]]; then
	say "installing ${need[*]}"
	as_root apt-get update -qq || true
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >"$work/apt.log" 2>&1 ||
		{ cat "$work/apt.log" >&2; die "apt-get install ${need[*]} failed"; }
fi

kernel_pkg() { # the linux-image-*-amd64 package linux-image-amd64 depends on
	apt-cache depends linux-image-amd64 2>/dev/null | awk '$1 == "Depends:" && $2 ~ /^linux-image-.*-amd64$/ {print $2; exit}'
}
if [[ -n ${KERNEL:-} ]]; then
	vmlinuz=$KERNEL
	[[ -f $vmlinuz ]] || die "KERNEL=$vmlinuz: no such file"
else
	mkdir -p "$cache"
	kpkg=$(kernel_pkg)
	if [[ -z $kpkg ]]; then
		as_root apt-get update -qq || true
		kpkg=$(kernel_pkg)
	fi
	if [[ -n $kpkg ]]; then
		vmlinuz=$cache/vmlinuz-${kpkg#linux-image-}
	else
		# No package lists: any kernel cached before will do.
		vmlinuz=$(ls -t "$cache"/vmlinuz-* 2>/dev/null | head -n1 || true)
		[[ -n $vmlinuz ]] || die "cannot resolve linux-image-amd64 (apt-get update?) and no kernel cached in $cache"
	fi
	if [[ ! -s $vmlinuz ]]; then
		say "downloading $kpkg (the kernel only is kept, in $cache)"
		mkdir -p "$work/deb" "$work/kx"
		chmod 755 "$work" "$work/deb" # _apt fetches into it
		(cd "$work/deb" && apt-get download -q "$kpkg" >"$work/deb.log" 2>&1) ||
			{ cat "$work/deb.log" >&2; die "apt-get download $kpkg failed"; }
		# dpkg-deb -x of /boot alone (the modules, ~400 MB, are not needed:
		# everything the guest uses is built in).
		dpkg-deb --fsys-tarfile "$work"/deb/"$kpkg"_*.deb | tar -x -C "$work/kx" --wildcards './boot/vmlinuz-*'
		k=$(ls "$work"/kx/boot/vmlinuz-* | head -n1)
		[[ -s $k ]] || die "no /boot/vmlinuz-* in $kpkg"
		cp "$k" "$vmlinuz.tmp" && mv "$vmlinuz.tmp" "$vmlinuz"
		rm -rf "$work/deb" "$work/kx"
	fi
fi
say "kernel $vmlinuz"

# --- 2. The test binary and the init ---------------------------------------
root=$work/root
mkdir -p "$root"/{dev,proc,sys,tmp,root,pkg}
pkgdir=$(go list -f '{{.Dir}}' "$pkg") || die "go list $pkg failed"
say "building $pkg (go test -c) and scripts/ci/avx512init"
CGO_ENABLED=0 go test -c -ldflags='-s -w' -o "$root/pkg.test" "$pkg"
[[ -x $root/pkg.test ]] || die "$pkg has no test files"
(cd "$repo/scripts/ci/avx512init" && CGO_ENABLED=0 go build -ldflags='-s -w' -o "$root/init" .)
# The test runs in /pkg, as go test runs it in the package directory.
if [[ -d $pkgdir/testdata ]]; then
	cp -r "$pkgdir/testdata" "$root/pkg/testdata"
fi
if [[ ${#args[@]} -gt 0 ]]; then
	printf '%s\0' "${args[@]}" >"$root/testargs"
else
	: >"$root/testargs"
fi

# --- 3. Initramfs and boot CD ----------------------------------------------
iso=$work/iso
mkdir -p "$iso/isolinux"
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) | gzip -6 >"$iso/initrd.gz"
cp "$vmlinuz" "$iso/vmlinuz"
cp /usr/lib/ISOLINUX/isolinux.bin /usr/lib/syslinux/modules/bios/ldlinux.c32 "$iso/isolinux/"
# noxsaves clearcpuid=321 (X86_FEATURE_XSAVEC, word 10 bit 1): Bochs 2.7
# gives the standard-format XSAVE size in CPUID(0xD,1).EBX, so with the
# compacted format (XSAVES or XSAVEC) Linux finds "XSAVE consistency
# problem: size 2432 != kernel_size 2688" and disables XSAVE, hence AVX,
# AVX2 and AVX-512. Without both it uses the standard format, whose size
# Bochs reports right. (Linux lists both as "unknown" parameters: they are
# parsed early, by hand, and do work.)
# lpj: skip the delay-loop calibration; tsc=reliable, no_timer_check:
# trust the emulated clocks; nosmp etc.: one CPU, nothing to probe.
cmdline="console=ttyS0,115200 quiet panic=-1 rdinit=/init noxsaves clearcpuid=321 mitigations=off lpj=1000000 tsc=reliable no_timer_check nosmp noreplace-smp random.trust_cpu=on nowatchdog nmi_watchdog=0 audit=0 apparmor=0 cpuidle.off=1 ${KERNEL_CMDLINE_EXTRA:-}"
cat >"$iso/isolinux/isolinux.cfg" <<EOF
DEFAULT linux
PROMPT 0
TIMEOUT 0
LABEL linux
  KERNEL /vmlinuz
  INITRD /initrd.gz
  APPEND $cmdline
EOF
xorriso -as mkisofs -quiet -o "$work/boot.iso" -b isolinux/isolinux.bin -c isolinux/boot.cat \
	-no-emul-boot -boot-load-size 4 -boot-info-table -R "$iso" 2>"$work/xorriso.log" ||
	{ cat "$work/xorriso.log" >&2; die "xorriso failed"; }
rm -rf "$iso"
say "boot image $(du -h "$work/boot.iso" | cut -f1)"

# --- 4. Bochs ----------------------------------------------------------------
cat >"$work/bochsrc" <<EOF
# written by scripts/ci/avx512_emulated.sh
plugin_ctrl: unmapped=1, biosdev=0, speaker=0, extfpuirq=0, parallel=0, gameport=0, iodebug=0, e1000=0, ne2k=0, sb16=0, es1370=0, usb_uhci=0, usb_ohci=0, usb_ehci=0, usb_xhci=0
config_interface: textconfig
display_library: term
memory: guest=$megs, host=$megs
romimage: file=/usr/share/bochs/BIOS-bochs-latest
vgaromimage: file=/usr/share/vgabios/vgabios.bin
vga: extension=vbe, update_freq=1
cpu: model=$cpu_model, count=1, ips=$ips, reset_on_triple_fault=0
clock: sync=none, time0=local, rtc_sync=0
pci: enabled=1, chipset=i440fx
ata0: enabled=1, ioaddr1=0x1f0, ioaddr2=0x3f0, irq=14
ata0-master: type=cdrom, path=$work/boot.iso, status=inserted
ata1: enabled=0
boot: cdrom
floppy_bootsig_check: disabled=1
com1: enabled=1, mode=file, dev=$work/serial.log
mouse: enabled=0
log: $work/bochs.log
panic: action=fatal
error: action=report
info: action=report
debug: action=ignore
EOF
: >"$work/serial.log"
t_boot=$(date +%s)
say "booting Bochs ($cpu_model, ${megs} MB, ips $ips); serial console follows"
# Debian's Bochs has no "nogui" display and is built with the internal
# debugger: the curses "term" display gets a pseudo-terminal from script(1)
# (its screen goes to bochs.out) and the debugger is told to continue.
echo c >"$work/debugger.rc"
(cd "$work" && TERM=xterm exec script -qfec "bochs -q -rc debugger.rc -f bochsrc" /dev/null) </dev/null >"$work/bochs.out" 2>&1 &
bochs_pid=$!
# Print the serial console as it comes, and keep each line with the host
# time it arrived (timed.log: the wall time per test, the guest's clock is
# no measure: its TSC runs at Bochs' instruction rate, not 3.5 GHz).
tail --pid="$bochs_pid" -n +1 -f "$work/serial.log" | while IFS= read -r line || [[ -n $line ]]; do
	line=${line%$'\r'}
	printf '%s %s\n' "$EPOCHREALTIME" "$line" >>"$work/timed.log"
	printf '%s\n' "$line"
done &
tail_pid=$!

fail=
deadline=$((t_start + timeout_s))
while :; do
	if grep -qa '^AVX512-EMULATED-EXIT [0-9]*' "$work/serial.log"; then
		# Give the power-off a moment, then stop Bochs ourselves.
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			kill -0 "$bochs_pid" 2>/dev/null || break
			sleep 1
		done
		break
	fi
	if grep -qa 'Kernel panic' "$work/serial.log"; then
		sleep 2
		fail="kernel panic in the guest"
		break
	fi
	if ! kill -0 "$bochs_pid" 2>/dev/null; then
		grep -qa '^AVX512-EMULATED-EXIT [0-9]*' "$work/serial.log" ||
			fail="Bochs exited before the test finished (see bochs.log, KEEP_WORK=1)"
		break
	fi
	if [[ $(date +%s) -ge $deadline ]]; then
		fail="timeout: ${timeout_s}s (TIMEOUT) passed"
		break
	fi
	sleep 1
done
t_end=$(date +%s)
poweroff=killed
if kill -0 "$bochs_pid" 2>/dev/null; then
	stop_bochs
else
	poweroff="powered off"
fi
wait "$bochs_pid" 2>/dev/null || true
bochs_pid=
for _ in 1 2 3 4 5 6; do # tail ends by itself once Bochs is gone
	kill -0 "$tail_pid" 2>/dev/null || break
	sleep 0.5
done
kill "$tail_pid" 2>/dev/null || true
wait "$tail_pid" 2>/dev/null || true
tail_pid=

# --- 5. Verdict ----------------------------------------------------------------
serial=$(tr -d '\r' <"$work/serial.log")
flags=$(sed -n 's/^AVX512-FLAGS: //p' <<<"$serial" | head -n1)
model=$(sed -n 's/^AVX512-CPU-MODEL: //p' <<<"$serial" | head -n1)
code=$(sed -n 's/^AVX512-EMULATED-EXIT \([0-9]*\).*/\1/p' <<<"$serial" | head -n1)
echo
echo "==== avx512_emulated summary ===="
echo "package:      $pkg ${args[*]:-}"
echo "bochs cpu:    $cpu_model (guest: ${model:-?})"
echo "guest flags:  ${flags:-?}"
# Host times of the init's first line and of the marker (timed.log).
t_init=$(awk '/ AVX512-INIT: up / {print $1; exit}' "$work/timed.log" 2>/dev/null || true)
t_exit=$(awk '/ AVX512-EMULATED-EXIT / {print $1; exit}' "$work/timed.log" 2>/dev/null || true)
[[ -n $t_exit ]] || t_exit=$t_end
build_s=$((t_boot - t_start))
if [[ -n $t_init ]]; then
	awk -v b="$build_s" -v t0="$t_boot" -v ti="$t_init" -v te="$t_exit" -v s="$t_start" -v e="$t_end" 'BEGIN {
		printf "times:        build %ds, boot %.0fs (Bochs start to init), tests %.0fs, total %ds (wall)\n", b, ti - t0, te - ti, e - s }'
	echo "slowest top-level tests (wall seconds, from the serial log):"
	awk -v te="$t_exit" '
		$2 == "===" && $3 == "RUN" && $4 !~ /\// { if (cur != "") d[cur] += $1 - st; cur = $4; st = $1 }
		/ AVX512-INIT: test binary ran / { if (cur != "") d[cur] += $1 - st; cur = "" }
		END { if (cur != "") d[cur] += te - st; for (k in d) printf "  %8.1f %s\n", d[k], k }
	' "$work/timed.log" | sort -rn | head -n 10
else
	echo "times:        build ${build_s}s, emulator $((t_end - t_boot))s, total $((t_end - t_start))s (wall; init never started)"
fi
echo "bochs:        $poweroff"
if [[ -z $fail && -n $flags && " $flags " != *" avx512f "* ]]; then
	fail="the guest CPU has no avx512f"
fi
if [[ -z $fail && -z $code ]]; then
	fail="no AVX512-EMULATED-EXIT marker in the serial log"
fi
if [[ -z $fail && -z $flags ]]; then
	fail="the guest printed no CPU flags"
fi
if [[ -n $fail ]]; then
	echo "result:       FAIL: $fail"
	say "last lines of bochs.log:"
	tail -n 15 "$work/bochs.log" >&2 2>/dev/null || true
	tail -n 5 "$work/bochs.out" >&2 2>/dev/null || true
	exit 1
fi
if [[ $code != 0 ]]; then
	echo "result:       FAIL: test binary exit code $code"
	exit 1
fi
echo "result:       PASS (exit code 0)"
