# bench/isa.awk - the instruction-set table of docs/bench.md (issue 12) from
# the R records of bench/run.sh's isa runs (build/bench/isa.tsv): per
# workload the best time of each build and set over both rounds, the ratios
# to the -march=native build, and the issue's targets.  impl = native (built
# with -march=native), auto (built without -march, its own choice), avx2,
# fma, generic (the same binary with NNCC_ISA).  -v torch_w3=SECONDS: the
# PyTorch time for W3's 30000 iterations (measured, else issue 6's quote).
function field(name,   i) {
	for (i = 2; i <= NF; i++)
		if (index($i, name "=") == 1)
			return substr($i, length(name) + 2)
	return ""
}
function secs(t) {
	return t == "" ? "-" : t < 0.001 ? sprintf("%.1f µs", t * 1e6) : t < 1 ? sprintf("%.1f ms", t * 1e3) : sprintf("%.2f s", t)
}
function ratio(a, b) {
	return (a == "" || b == "") ? "-" : sprintf("%.2fx", a / b)
}
function met(ok) {
	return ok ? "met" : "**not met**"
}
$1 == "R" && field("min") != "" {
	k = field("impl") SUBSEP field("work")
	t = field("min") + 0
	if (!(k in best) || t < best[k])
		best[k] = t
}
END {
	nw = split("W3.epoch W3.full infer.1 W4.epoch", works, " ")
	label["W3.epoch"] = "W3 784-50-10 b20, one epoch"
	label["W3.full"] = "W3, 30000 iterations"
	label["infer.1"] = "W3 inference, the 10000 test images one at a time"
	label["W4.epoch"] = "W4 784-800-10 b64, one epoch"
	print ""
	print "## Instruction sets (issue 12)"
	print ""
	print "One build without `-march` (`nncc --cflags` alone) picks its kernels when it is"
	print "loaded (auto: AVX-512 on this machine); `NNCC_ISA` forces the others. Against the"
	print "same workload built with `-O2 -march=native`, one process each, in turns, two"
	print "rounds, best time, 1 thread. fma and generic run W4 for 20 steps, scaled to an epoch."
	print "All give the same bits (tests/check_isa.c)."
	print ""
	print "| workload | -march=native | auto | auto / native | avx2 | avx2 / auto | fma | generic |"
	print "|---|---|---|---|---|---|---|---|"
	for (i = 1; i <= nw; i++) {
		w = works[i]
		n = best["native", w]; a = best["auto", w]; v = best["avx2", w]
		f = best["fma", w]; g = best["generic", w]
		print "| " label[w] " | " secs(n) " | " secs(a) " | " ratio(a, n) " | " secs(v) " | " \
		      ratio(v, a) " | " secs(f) " | " secs(g) " |"
	}
	print ""
	print "| target (issue 12) | goal | measured | |"
	print "|---|---|---|---|"
	for (i = 1; i <= nw; i++) {
		w = works[i]
		if (w == "W3.epoch")
			continue
		r = best["auto", w] / best["native", w]
		print "| dispatch vs -march=native, " label[w] " | <= 1.05x | " sprintf("%.3fx", r) " | " met(r <= 1.05) " |"
	}
	r = best["auto", "W4.epoch"] / best["avx2", "W4.epoch"]
	print "| AVX2 speed over AVX-512's, W4 epoch | >= 50% | " sprintf("%.0f%%", 100 * r) " | " met(r >= 0.5) " |"
	v = best["avx2", "W3.full"]
	print "| AVX2 W3 (30000 iterations) vs PyTorch | faster | " secs(v) " vs " secs(torch_w3) " (" torch_src ") | " met(v < torch_w3) " |"
}
