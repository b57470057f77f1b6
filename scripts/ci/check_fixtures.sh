#!/bin/sh
# Regenerate the fixtures into a temp dir and check that every file scripts/fixtures/make_fixtures.py
# produces is committed under testdata/ byte for byte. Files in testdata/ that the script
# does not produce are ignored.
#
# Usage: scripts/ci/check_fixtures.sh [TESTDATA_DIR]     (default: testdata/ of this repo)
# Exit 0: all identical. Exit 1: a file differs or is missing (named on stderr), or the
# generator failed. Needs Debian's /usr/bin/python3 with python3-torch (PYTHON overrides).
set -eu

root=$(cd "$(dirname "$0")/../.." && pwd)
testdata=${1:-"$root/testdata"}
shown=${1:-testdata}
python=${PYTHON:-/usr/bin/python3}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/glipctl-fixtures.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM
out=$tmp/out

if ! "$python" "$root/scripts/fixtures/make_fixtures.py" "$out" >"$tmp/log" 2>&1; then
	cat "$tmp/log" >&2
	echo "check_fixtures: make_fixtures.py failed" >&2
	exit 1
fi

status=0
count=0
for f in $(cd "$out" && find . -type f | sort); do
	rel=${f#./}
	count=$((count + 1))
	if [ ! -f "$testdata/$rel" ]; then
		echo "check_fixtures: $shown/$rel: missing (make_fixtures.py produces it)" >&2
		status=1
	elif ! cmp -s "$out/$rel" "$testdata/$rel"; then
		echo "check_fixtures: $shown/$rel: differs from a fresh make_fixtures.py run" >&2
		status=1
	fi
done
if [ "$count" -eq 0 ]; then
	echo "check_fixtures: make_fixtures.py produced no files" >&2
	exit 1
fi
if [ "$status" -eq 0 ]; then
	echo "check_fixtures: $count files identical"
fi
exit "$status"
