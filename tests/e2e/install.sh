#!/bin/sh
# install.sh - `make install` as a packager runs it: installs into a
# temporary DESTDIR with an unusual PREFIX, then, with the installed copy
# only, generates examples/xor.yaml's trainer, builds it with the flags of
# the installed nncc --cflags/--libs and of pkg-config (warnings as errors),
# trains it and checks its accuracy; runs every installed man page through
# `man --warnings` (any warning fails); `make uninstall` must leave no file
# behind.  The sub-make inherits the outer make's variables (SAN=1 installs
# the sanitised build).  Run from the top directory (tests/run.sh).
set -eu
CC=${CC:-cc}
MAKE=${MAKE:-make}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nncc-e2e-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
stage=$tmp/stage
prefix=/opt/nncc-test
root=$stage$prefix

fail() {
	echo "install: FAIL: $*" >&2
	exit 1
}

$MAKE --no-print-directory install DESTDIR="$stage" PREFIX="$prefix" >"$tmp/install.log" 2>&1 ||
	{ cat "$tmp/install.log" >&2; fail "make install"; }
for f in bin/nncc lib/libnncc.a lib/pkgconfig/nncc.pc include/nncc/nncc.h \
	include/nncc/nncc_kern.h share/man/man1/nncc.1 share/man/man1/nncc-trainer.1 \
	share/man/man5/nncc-format.5; do
	[ -f "$root/$f" ] || fail "make install did not install $prefix/$f"
done

# The installed nncc finds its own runtime, not the build tree's.
cflags=$("$root/bin/nncc" --cflags) || fail "installed nncc --cflags"
libs=$("$root/bin/nncc" --libs) || fail "installed nncc --libs"
case "$cflags" in
*"-I$root/include/nncc "*) ;;
*) fail "installed nncc --cflags gives '$cflags', not -I$root/include/nncc" ;;
esac
case "$libs" in
"$root/lib/libnncc.a "*) ;;
*) fail "installed nncc --libs gives '$libs', not $root/lib/libnncc.a" ;;
esac
pc=$(PKG_CONFIG_PATH="$root/lib/pkgconfig" pkg-config --define-variable=prefix="$root" \
	--cflags --libs nncc) || fail "pkg-config --cflags --libs nncc"
grep -q "^prefix=$prefix\$" "$root/lib/pkgconfig/nncc.pc" || fail "nncc.pc does not name PREFIX"

"$root/bin/nncc" examples/xor.yaml -o "$tmp/xor.c" || fail "installed nncc cannot compile examples/xor.yaml"
for flags in "$cflags $libs" "$pc"; do
	# shellcheck disable=SC2086
	$CC -O2 -Wall -Wextra -Werror "$tmp/xor.c" $flags -o "$tmp/xor" ||
		fail "cannot build the trainer with: $flags"
	"$tmp/xor" --json --quiet >"$tmp/out" || fail "the trainer built with '$flags' failed"
	acc=$(tail -n 1 "$tmp/out" | sed -n 's/.*"test_accuracy": *\([0-9.]*\).*/\1/p')
	awk -v a="$acc" 'BEGIN { exit !(a >= 0.95) }' ||
		fail "xor test accuracy '$acc' (expected >= 0.95) with: $flags"
done

if ! command -v man >/dev/null 2>&1; then
	echo "install: man is not installed (apt-get install man-db): cannot check the pages" >&2
	exit 77
fi
for page in "$root"/share/man/man*/*; do
	MANWIDTH=80 man --warnings -l "$page" >"$tmp/page.txt" 2>"$tmp/warn.txt" ||
		fail "man cannot format $page"
	[ ! -s "$tmp/warn.txt" ] || { cat "$tmp/warn.txt" >&2; fail "man --warnings on $page"; }
	grep -q "^NAME" "$tmp/page.txt" || fail "$page has no NAME section"
done

$MAKE --no-print-directory uninstall DESTDIR="$stage" PREFIX="$prefix" >"$tmp/uninstall.log" 2>&1 ||
	{ cat "$tmp/uninstall.log" >&2; fail "make uninstall"; }
left=$(find "$stage" -type f)
[ -z "$left" ] || fail "make uninstall left: $left"
echo "install: ok"
