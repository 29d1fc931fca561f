/*
 * mathfn_probe.c - measures the trainer's own exp and tanh (kern_exp,
 * kern_tanh in runtime/nncc_simd.h) and their vector forms (v_exp, v_tanh
 * in nncc_vec.h) for tests/check_mathfn.c, which builds it with -DKERN_F32
 * or -DKERN_F64, with and without vectors, and asserts on what it prints:
 *   exp_ulp X / tanh_ulp X   the largest error in ulps of the result type,
 *                            against libm's exp/tanh one precision up
 *                            (double for float, long double for double)
 *   vector_diff N            inputs where the vector form's bits differ
 *                            from the scalar one's (0 without vectors)
 *   odd_fail N               x where tanh(-x) != -tanh(x)
 *   special NAME VALUE       tanh and exp at 0, -0, +-inf, NaN, tiny
 * The sweep: every STRIDE-th bit pattern of the positive finite values of
 * the type (both signs), every binade visited.
 */
#include "nncc_simd.h"
#include "nncc_vec.h"

#include <float.h>

#if defined(KERN_F32)
#define STRIDE 97u
#define LIMIT 0x7f800000u          /* +inf's bits */
typedef double wide;               /* the reference's precision */
#define WEXP(x) exp(x)
#define WTANH(x) tanh(x)
#define NEXT nextafterf
#else
#define STRIDE 0x42fffffffffull
#define NEXT nextafter
#define LIMIT 0x7ff0000000000000ull
typedef long double wide;
#define WEXP(x) expl(x)
#define WTANH(x) tanhl(x)
#endif

/* |got - want| in units of the last place of want rounded to real (the
 * smallest subnormal's for 0). */
static double ulps(real got, wide want)
{
	real w = (real)want, a = w < 0 ? -w : w;
	real up = NEXT(a, INFINITY) - a;
	if (a == 0)
		up = (real)(sizeof(real) == 4 ? FLT_TRUE_MIN : DBL_TRUE_MIN);
	wide d = (wide)got - want;
	return (double)((d < 0 ? -d : d) / up);
}

/* The vector forms on a vector of copies of x, lane 0 out. */
static void vec(real x, real *e, real *t)
{
#if KERN_SIMD
	real o[VL];
	V_STORE(o, v_exp(V_SET1(x)));
	*e = o[0];
	V_STORE(o, v_tanh(V_SET1(x)));
	*t = o[0];
#else
	*e = kern_exp(x);
	*t = kern_tanh(x);
#endif
}

static int same_bits(real a, real b)
{
	return memcmp(&a, &b, sizeof a) == 0;
}

int main(void)
{
	double exp_worst = 0, tanh_worst = 0;
	unsigned long vdiff = 0, odd = 0, n = 0;
	static const struct {
		const char *name;
		real x;
	} specials[] = {{"zero", 0}, {"negzero", -(real)0}, {"inf", INFINITY}, {"neginf", -INFINITY},
	                {"nan", NAN}, {"tiny", (real)1e-30}, {"big", (real)30}};

	for (ureal b = 0; b < LIMIT; b += STRIDE) {
		for (int sign = 0; sign < 2; sign++) {
			real x, ve, vt;
			memcpy(&x, &b, sizeof x);
			if (sign)
				x = -x;
			real e = kern_exp(x), t = kern_tanh(x);
			vec(x, &ve, &vt);
			vdiff += !same_bits(e, ve) || !same_bits(t, vt);
			/* exp: where the result is a normal number, as documented */
			if (x > EXP_LO && x < EXP_HI) {
				double u = ulps(e, WEXP((wide)x));
				exp_worst = u > exp_worst ? u : exp_worst;
			}
			double u = ulps(t, WTANH((wide)x));
			tanh_worst = u > tanh_worst ? u : tanh_worst;
			if (sign && !same_bits(t, 0 - kern_tanh(-x)) && x != 0)
				odd++;
			n++;
		}
	}
	printf("points %lu\nexp_ulp %.3f\ntanh_ulp %.3f\nvector_diff %lu\nodd_fail %lu\n", n, exp_worst,
	       tanh_worst, vdiff, odd);
	for (size_t k = 0; k < sizeof specials / sizeof specials[0]; k++) {
		real x = specials[k].x, ve, vt;
		vec(x, &ve, &vt);
		printf("special %s tanh %a exp %a vector %d\n", specials[k].name, (double)kern_tanh(x),
		       (double)kern_exp(x), same_bits(kern_tanh(x), vt) && same_bits(kern_exp(x), ve));
	}
	return 0;
}
