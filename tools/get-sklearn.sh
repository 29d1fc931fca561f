#!/bin/sh
# get-sklearn.sh DIR - writes train/test CSV files of five small tabular data
# sets (iris, breast cancer, wine, digits, diabetes) into DIR (`make data`).
# The source files come from Debian's python3-sklearn package: `apt-get
# download` fetches the .deb into a staging directory inside DIR (no root
# needed), `dpkg-deb --fsys-tarfile | tar -x` unpacks only
# .../sklearn/datasets/data/*, and awk converts them (Python is not needed).
# Idempotent: if every output file is present with its expected SHA-256 it
# says so and exits 0.  Sources and outputs are verified before anything is
# renamed into DIR; the staging directory is always removed.  POSIX sh.
#
# Every output has a header row, the label or target column last, commas,
# LF line ends, and the numbers exactly as the source writes them.  Split:
# row i (0-based, in source order) goes to the test file when i % 4 == 3,
# otherwise to the train file (a quarter for testing; the sources that are
# sorted by class get every class in both files).
set -eu

PKG=python3-sklearn
# The version whose files the checksums below were taken from.
PKG_VERSION=1.2.1+dfsg-1
SOURCES="iris.csv breast_cancer.csv wine_data.csv digits.csv.gz diabetes_data_raw.csv.gz diabetes_target.csv.gz"
SETS="iris breast-cancer wine digits diabetes"

die() {
	echo "get-sklearn: $*" >&2
	exit 1
}

if [ $# -ne 1 ] || [ -z "$1" ]; then
	die "usage: get-sklearn.sh DIR"
fi
dir=$1

# The SHA-256 of each source file; for a .gz file, of its decompressed
# content: Debian recompresses these when it builds the package, so the gzip
# bytes (header mtime) change from build to build while the data does not.
source_sha() {
	case $1 in
	iris.csv) echo f13ffa8fdd56fd8e6c8d16d4081a3fbd3114bcd0aae4256c43205169cd9d1449 ;;
	breast_cancer.csv) echo fed3eb72d0575ef6192293f5093c6e801b1476b577d0386bf4455504522172ed ;;
	wine_data.csv) echo 10e8a802908b34f86e5da8ce962f3c806694bc98450a18f61851af59f324bede ;;
	digits.csv.gz) echo 6ebb3d2fee246a4e99363262ddf8a00a3c41bee6014c373ed9d9216ba7f651b8 ;;
	diabetes_data_raw.csv.gz) echo ec2683754c379fdffc39f53922c475eff67e2fb9c94c7c27207b7c4371d51726 ;;
	diabetes_target.csv.gz) echo 244713a551f62a291a354212d8a048adec6cb1244b2bc44e66a0698f5006d26d ;;
	*) die "internal error: no checksum for source $1" ;;
	esac
}

output_sha() {
	case $1 in
	iris-train.csv) echo 2ab2722855bcbff0112b1d83010e2c7c02fb352c9f1ec881f0f7c6f3cbc434d1 ;;
	iris-test.csv) echo 8fc95d278aca6ffbb4c044edec125b2fd8e9610cb8f26e7e48b075b72742e45f ;;
	breast-cancer-train.csv) echo 3b9f527b9e3fcc553f9ee5b2efd92b568d73acc9ee7783368a0c097e6f3bf75e ;;
	breast-cancer-test.csv) echo 1e3afc4e6e8c4b54746db3e320602c4ccdba276fa4adcb84a9db6c48a96e4ada ;;
	wine-train.csv) echo 8fd3549410e92649f14ce653ec9dc2ac3ff2e29bb16e75dec057be98ab7c91b1 ;;
	wine-test.csv) echo e0b47d400cef069a9282baca8cab3a8e3170a551e1b13445f42aa3d6a0afe4e8 ;;
	digits-train.csv) echo 36a5a5e78e9148609f66a2ca10405ece2aee7a32fee2fce6ea54c0a74c4eb6b4 ;;
	digits-test.csv) echo 37e1ea9c44bff643f4859e3516b62a62d13a47627d5454dda6353435a7ade3b2 ;;
	diabetes-train.csv) echo 35bc639a4dbc03640b3fe4985f8cf99ab8185b2cf3eaf87ada8d7239cee6f14f ;;
	diabetes-test.csv) echo 95e601ddcfec09247c818fef82055d4ca95982a7408f47e88ce329757ff0bc9c ;;
	*) die "internal error: no checksum for output $1" ;;
	esac
}

outputs() {
	for s in $SETS; do
		echo "$s-train.csv $s-test.csv"
	done
}

# sha256 FILE: the hex digest, from whichever tool the system has.
if command -v sha256sum >/dev/null 2>&1; then
	sha256() { sha256sum <"$1" | cut -d' ' -f1; }
elif command -v shasum >/dev/null 2>&1; then
	sha256() { shasum -a 256 <"$1" | cut -d' ' -f1; }
else
	die "need sha256sum or shasum to verify the data (run 'make deps')"
fi

# verified D: all output files in D match their checksums.
verified() {
	for f in $(outputs); do
		[ -f "$1/$f" ] || return 1
		[ "$(sha256 "$1/$f")" = "$(output_sha "$f")" ] || return 1
	done
	return 0
}

if verified "$dir"; then
	echo "data: scikit-learn's tabular data sets already in $dir (sha256 verified)"
	exit 0
fi

for t in apt-get dpkg-deb tar gzip awk paste; do
	command -v $t >/dev/null 2>&1 ||
		die "$t not found: the tabular data sets come from Debian's $PKG package (apt-get, dpkg-deb)"
done

mkdir -p "$dir" || die "cannot create $dir"
stage=$(mktemp -d "$dir/.get-sklearn.XXXXXX") || die "cannot create a staging directory in $dir"
trap 'rm -rf "$stage"' EXIT
trap 'exit 130' INT TERM HUP

echo "data: downloading Debian's $PKG with apt-get download"
if ! (cd "$stage" && apt-get download "$PKG" >apt.log 2>&1); then
	cat "$stage/apt.log" >&2
	die "apt-get download $PKG failed: if apt knows no such package, run 'apt-get update' (as root) and retry; otherwise check the network and the apt sources"
fi
set -- "$stage"/"$PKG"_*.deb
if [ $# -ne 1 ] || [ ! -f "$1" ]; then
	die "apt-get download did not produce one $PKG .deb"
fi
deb=$1
version=$(dpkg-deb -f "$deb" Version) || die "cannot read the version of $deb"
if [ "$version" = "$PKG_VERSION" ]; then
	echo "data: $PKG $version"
	why="damaged download?"
else
	echo "data: $PKG $version (the checksums are from $PKG_VERSION)"
	why="the checksums are from $PKG $PKG_VERSION: this version changed the data"
fi

# Unpack only the data files.  Their directory depends on the Python
# layout (dist-packages, python3 or python3.X), so it is looked up in the
# archive's listing.
dpkg-deb --fsys-tarfile "$deb" >"$stage/data.tar" || die "cannot read $deb"
tar -tf "$stage/data.tar" >"$stage/list" || die "cannot list $deb"
p=$(awk '/\/sklearn\/datasets\/data\/iris\.csv$/ { print; exit }' "$stage/list")
[ -n "$p" ] || die "$PKG $version has no sklearn/datasets/data/iris.csv"
data=${p%iris.csv}
paths=""
for f in $SOURCES; do
	grep -Fqx "$data$f" "$stage/list" || die "$PKG $version has no $data$f"
	paths="$paths $data$f"
done
mkdir "$stage/root"
# shellcheck disable=SC2086
tar -xf "$stage/data.tar" -C "$stage/root" $paths || die "cannot extract the data files from $deb"
src=$stage/root/$data

for f in $SOURCES; do
	case $f in
	*.gz) gzip -dc "$src/$f" >"$stage/${f%.gz}" || die "$f: corrupt gzip data" ;;
	*) cp "$src/$f" "$stage/$f" ;;
	esac
	got=$(sha256 "$stage/${f%.gz}")
	want=$(source_sha "$f")
	[ "$got" = "$want" ] ||
		die "$f in $PKG $version: sha256 $got, expected $want ($why)"
done

# split HEADER NAME: reads CSV rows on stdin and writes $stage/NAME-train.csv
# and NAME-test.csv, each starting with HEADER.
split() {
	awk -v header="$1" -v train="$stage/$2-train.csv" -v test="$stage/$2-test.csv" '
		BEGIN { print header >train; print header >test }
		{ print >(NR % 4 == 0 ? test : train) }  # NR = i + 1
		END { close(train); close(test) }'
}

# sklearn_rows NCOLS LABELS: checks a CSV file with sklearn's first line
# "n_samples,n_features,class names..." and prints its rows (from line 2),
# with the last field (the class index k) replaced by the k-th class name
# when LABELS is "names" and kept when it is "integers".
sklearn_rows() {
	awk -F, -v ncols="$1" -v labels="$2" -v file="$3" '
		function fail(msg) { print "get-sklearn: " file ":" NR ": " msg >"/dev/stderr"; bad = 1; exit 1 }
		NR == 1 {
			if ($2 + 1 != ncols || NF < 4) fail("expected \"n_samples," ncols - 1 ",class names...\", got \"" $0 "\"")
			n = $1; k = NF - 2
			for (c = 0; c < k; c++) name[c] = $(c + 3)
			next
		}
		{
			if (NF != ncols) fail(NF " fields, expected " ncols)
			if ($NF !~ /^[0-9]+$/ || $NF + 0 >= k) fail("class " $NF ", expected 0.." k - 1)
			if (labels == "names") print substr($0, 1, length($0) - length($NF)) name[$NF]
			else print
		}
		END { if (!bad && NR - 1 != n) fail(NR - 1 " rows, expected " n) }' "$stage/$3"
}

sklearn_rows 5 names iris.csv >"$stage/iris.rows"
split sepal_length,sepal_width,petal_length,petal_width,species iris <"$stage/iris.rows"

# sklearn's feature names ("mean radius", "radius error", "worst radius",
# ...; sklearn/datasets/_base.py) in snake_case.
bc=""
for kind in mean error worst; do
	for feat in radius texture perimeter area smoothness compactness concavity concave_points symmetry fractal_dimension; do
		case $kind in
		error) bc="$bc${feat}_error," ;;
		*) bc="$bc${kind}_$feat," ;;
		esac
	done
done
sklearn_rows 31 names breast_cancer.csv >"$stage/breast-cancer.rows"
split "${bc}diagnosis" breast-cancer <"$stage/breast-cancer.rows"

# sklearn's wine feature names, with '_' for the '/' in od280/od315_...
sklearn_rows 14 integers wine_data.csv >"$stage/wine.rows"
split alcohol,malic_acid,ash,alcalinity_of_ash,magnesium,total_phenols,flavanoids,nonflavanoid_phenols,proanthocyanins,color_intensity,hue,od280_od315_of_diluted_wines,proline,class wine <"$stage/wine.rows"

# digits.csv: no header, 64 pixel values (0..16) then the digit.
px=$(awk 'BEGIN { for (j = 0; j < 64; j++) printf "p%d,", j }')
awk -F, '
	NF != 65 || $NF !~ /^[0-9]$/ { print "get-sklearn: digits.csv:" NR ": expected 64 pixels and a digit" >"/dev/stderr"; bad = 1; exit 1 }
	{ print }
	END { if (!bad && NR != 1797) { print "get-sklearn: digits.csv: " NR " rows, expected 1797" >"/dev/stderr"; exit 1 } }' \
	"$stage/digits.csv" >"$stage/digits.rows"
split "${px}digit" digits <"$stage/digits.rows"

# diabetes: the raw (unscaled) features, space-separated, and the target,
# one per line, in two files of 442 lines: pasted, then joined with commas.
paste -d ' ' "$stage/diabetes_data_raw.csv" "$stage/diabetes_target.csv" | awk -v OFS=, '
	NF != 11 { print "get-sklearn: diabetes:" NR ": " NF " fields, expected 10 features and a target" >"/dev/stderr"; bad = 1; exit 1 }
	{ $1 = $1; print }  # rebuilds the line with OFS; the fields keep their text
	END { if (!bad && NR != 442) { print "get-sklearn: diabetes: " NR " rows, expected 442" >"/dev/stderr"; exit 1 } }' \
	>"$stage/diabetes.rows"
split age,sex,bmi,bp,s1,s2,s3,s4,s5,s6,progression diabetes <"$stage/diabetes.rows"

for f in $(outputs); do
	got=$(sha256 "$stage/$f")
	want=$(output_sha "$f")
	[ "$got" = "$want" ] ||
		die "$f: sha256 $got, expected $want (the sources verified, so the conversion differs: a different awk?)"
done
for f in $(outputs); do
	chmod 644 "$stage/$f"
	mv -f "$stage/$f" "$dir/$f" || die "cannot move $f into $dir"
done
verified "$dir" || die "files in $dir do not verify after the move"
echo "data: scikit-learn's tabular data sets in $dir (sha256 verified)"
