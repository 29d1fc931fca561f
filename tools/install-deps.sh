#!/bin/sh
# install-deps.sh - installs the Debian packages nncc needs, only those that
# are missing, with apt-get (through sudo when not root).
set -eu
pkgs="build-essential clang pkg-config libyaml-dev libcsv-dev check zlib1g-dev ca-certificates man-db"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
# npm (for `make data` only): any npm will do.  Machines whose Node.js comes
# from another repository bundle npm, and Debian's npm package conflicts with it.
command -v npm >/dev/null 2>&1 || missing="$missing npm"
if [ -z "$missing" ]; then
	echo "deps: all packages present"
	exit 0
fi
echo "deps: installing:$missing"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null 2>&1 || { echo "deps: need root or sudo to install:$missing" >&2; exit 1; }
	SUDO=sudo
fi
$SUDO apt-get update -q
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing
