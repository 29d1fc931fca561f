#!/bin/sh
# man.sh DIR - the man pages, made from the docs by tools/md2man.awk (so
# that they say what docs/ says): nncc(1) from docs/nncc.md, nncc-trainer(1)
# from docs/trainer.md, nncc-format(5) from docs/format.md.  A page's date
# is its source's last commit when git knows it (the output does not depend
# on the day it is built), else the source's modification date.
set -eu
dir=$1
here=$(dirname "$0")
version=$(sed -n 's/^#define NNCC_VERSION "\(.*\)"/\1/p' "$here/../compiler/nncc.h")
mkdir -p "$dir"

page() { # NAME SECTION SOURCE DESCRIPTION
	date=$(git log -1 --format=%cs -- "$3" 2>/dev/null || true)
	[ -n "$date" ] || date=$(date -u -r "$3" +%Y-%m-%d)
	awk -v name="$1" -v section="$2" -v version="$version" -v date="$date" \
		-v desc="$4" -f "$here/md2man.awk" "$3" >"$dir/$1.$2.tmp"
	mv "$dir/$1.$2.tmp" "$dir/$1.$2"
}

page nncc 1 docs/nncc.md "compile a YAML network description into a specialised C trainer"
page nncc-trainer 1 docs/trainer.md "the options and output of a trainer nncc generated"
page nncc-format 5 docs/format.md "the YAML network description nncc compiles"
