/*
 * check_mathfn.c - the trainer's own exp and tanh (kern_exp, kern_tanh in
 * runtime/nncc_simd.h, their vector forms in nncc_vec.h), which trainers
 * and exported code use instead of libm's so that every machine and C
 * library gives the same bits.  tests/mathfn_probe.c is built here with
 * $CC for float and double, for this CPU's vectors (-march=native), AVX2
 * and the portable path (-DKERN_NO_SIMD), and run over a sweep of the
 * type's bit patterns; asserted: exp within 1 ulp where its result is
 * normal, tanh within 3.5 ulp, the vector forms bit-identical to the
 * scalar ones, tanh odd, and the special values (0, -0, +-inf, NaN, a tiny
 * x, saturation).  Runs from the top directory (make test).
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* The probe's value for `key` (a line "key value"). */
static double probe_value(const char *out, const char *key)
{
	char pat[64];
	snprintf(pat, sizeof pat, "\n%s ", key);
	const char *p = strstr(out, pat);
	ck_assert_msg(p, "the probe printed no %s:\n%s", key, out);
	return strtod(p + strlen(pat), NULL);
}

/* The probe's line for special input `name`, less its name. */
static char *probe_special(const char *out, const char *name, char *line, size_t size)
{
	char pat[64];
	snprintf(pat, sizeof pat, "special %s ", name);
	const char *p = strstr(out, pat);
	ck_assert_msg(p, "the probe printed nothing for %s:\n%s", name, out);
	p += strlen(pat);
	snprintf(line, size, "%.*s", (int)strcspn(p, "\n"), p);
	return line;
}

static const char *const builds[] = {"-march=native", "-DKERN_NO_SIMD",
#if defined(__x86_64__)
                                     "-mavx2 -mfma",
#endif
};
#define N_BUILDS (sizeof builds / sizeof builds[0])

/* _i: build (dtype: f32 for even, f64 for odd). */
START_TEST(test_probe)
{
	const char *flags = builds[_i / 2];
	const int f64 = _i % 2;
	char *out = NULL, line[256], want[64];
	char *dir = tu_mkdtemp();
	int st = tu_run(&out, "%s -std=c11 -O2 -ffp-contract=off %s -DKERN_%s -Iruntime "
	                      "tests/mathfn_probe.c -o %s/probe -lm && %s/probe",
	                tu_cc(), flags, f64 ? "F64" : "F32", dir, dir);
	ck_assert_msg(st == 0, "%s %s: the probe failed (%d):\n%s", flags, f64 ? "f64" : "f32", st,
	              out);
	/* a leading newline so that every key is found as "\nkey " */
	char *text = malloc(strlen(out) + 2);
	ck_assert_ptr_nonnull(text);
	sprintf(text, "\n%s", out);

	ck_assert_msg(probe_value(text, "points") > 1e6, "%s", text);
	ck_assert_msg(probe_value(text, "exp_ulp") < 1, "%s: exp error\n%s", flags, text);
	ck_assert_msg(probe_value(text, "tanh_ulp") < 3.5, "%s: tanh error\n%s", flags, text);
	ck_assert_msg(probe_value(text, "vector_diff") == 0, "%s: vector != scalar\n%s", flags, text);
	ck_assert_msg(probe_value(text, "odd_fail") == 0, "%s: tanh not odd\n%s", flags, text);

	/* tanh(+-0) = +0, tanh(+-inf) = +-1, tanh(30) = 1, NaN stays NaN */
	static const struct {
		const char *name, *tanh;
	} exact[] = {{"zero", "tanh 0x0p+0 "}, {"negzero", "tanh 0x0p+0 "}, {"inf", "tanh 0x1p+0 "},
	             {"neginf", "tanh -0x1p+0 "}, {"big", "tanh 0x1p+0 "}};
	for (size_t k = 0; k < sizeof exact / sizeof exact[0]; k++)
		ck_assert_msg(strncmp(probe_special(text, exact[k].name, line, sizeof line), exact[k].tanh,
		                      strlen(exact[k].tanh)) == 0,
		              "%s %s: %s", flags, exact[k].name, line);
	ck_assert_msg(strstr(probe_special(text, "nan", line, sizeof line), "tanh nan") ||
	                  strstr(line, "tanh -nan"),
	              "%s nan: %s", flags, line);
	ck_assert_msg(strstr(line, "exp nan") || strstr(line, "exp -nan"), "%s nan: %s", flags, line);
	/* tanh(x) = x for a tiny x; exp(0) = 1 */
	snprintf(want, sizeof want, "tanh %a ", f64 ? 1e-30 : (double)1e-30f);
	ck_assert_msg(strncmp(probe_special(text, "tiny", line, sizeof line), want, strlen(want)) == 0,
	              "%s tiny: %s, want %s", flags, line, want);
	ck_assert_msg(strstr(probe_special(text, "zero", line, sizeof line), "exp 0x1p+0 "), "%s",
	              line);
	/* the vector form agrees on the specials too */
	for (const char *p = strstr(text, "special "); p; p = strstr(p + 1, "special ")) {
		const char *v = strstr(p, "vector ");
		ck_assert_msg(v && v[7] == '1', "%s: vector != scalar at %.40s", flags, p);
	}
	free(text);
	free(out);
	tu_scratch_free(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("mathfn");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, test_probe, 0, (int)(2 * N_BUILDS));
	suite_add_tcase(s, tc);
	return tu_suite_main(s, NULL);
}
