/*
 * plot.c - a self-contained SVG line chart for --plot: title, both axes with
 * "nice" round tick values (1, 2 or 5 times a power of ten), light grid lines,
 * axis labels and the curve as one polyline (plus markers when the points are
 * few).  No scales other than linear; no legend (one series).
 *
 * Vocabulary: data coordinates (x, y) map to pixels (px, py) inside the plot
 * area, the chart minus its margins; py grows downwards.
 */
#include <math.h>
#include <string.h>

#include "driver.h"

#define SVG_W 720
#define SVG_H 450
#define MARGIN_L 80
#define MARGIN_R 30
#define MARGIN_T 50
#define MARGIN_B 60
#define MAX_TICKS 8
#define MARKER_MAX_POINTS 60 /* draw a dot at each point up to this many */

void nncc_nice_ticks(double lo, double hi, int max_ticks, double *first, double *step,
                     int *count)
{
	double raw, mag, f, s, a, b;

	if (!(hi > lo)) { /* one value (or none): a unit-wide axis around it */
		double c = isfinite(lo) ? lo : 0;
		double half = c != 0 ? fabs(c) * 0.5 : 0.5;
		lo = c - half;
		hi = c + half;
	}
	if (max_ticks < 2)
		max_ticks = 2;
	raw = (hi - lo) / (max_ticks - 1);
	mag = pow(10, floor(log10(raw)));
	f = raw / mag;
	s = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
	/* Rounding lo and hi outwards can need one more tick than planned. */
	for (;;) {
		a = floor(lo / s + 1e-9) * s;
		b = ceil(hi / s - 1e-9) * s;
		if ((int)floor((b - a) / s + 0.5) + 1 <= max_ticks)
			break;
		f = s / mag;
		if (f < 2)
			s = 2 * mag;
		else if (f < 5)
			s = 5 * mag;
		else {
			mag *= 10;
			s = mag;
		}
	}
	*first = a;
	*step = s;
	*count = (int)floor((b - a) / s + 0.5) + 1;
}

/* Text content with &, < and > escaped. */
static void svg_text(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '&')
			fputs("&amp;", f);
		else if (*s == '<')
			fputs("&lt;", f);
		else if (*s == '>')
			fputs("&gt;", f);
		else
			fputc(*s, f);
	}
}

/* A tick value with as many decimals as the step needs; "-0" becomes "0". */
static void tick_label(char *buf, size_t len, double v, double step)
{
	int dec = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
	if (fabs(v) < step * 1e-6)
		v = 0;
	snprintf(buf, len, "%.*f", dec, v);
}

typedef struct axis {
	double first, step, lo, hi;
	int count;
} axis_t;

static void axis_fit(axis_t *a, double lo, double hi)
{
	nncc_nice_ticks(lo, hi, MAX_TICKS, &a->first, &a->step, &a->count);
	a->lo = a->first;
	a->hi = a->first + a->step * (a->count - 1);
}

static double map(const axis_t *a, double v, double p0, double p1)
{
	return p0 + (v - a->lo) / (a->hi - a->lo) * (p1 - p0);
}

int nncc_plot_svg(FILE *f, const char *title, const char *xlabel, const char *ylabel,
                  const double *x, const double *y, size_t n)
{
	const double left = MARGIN_L, right = SVG_W - MARGIN_R;
	const double top = MARGIN_T, bottom = SVG_H - MARGIN_B;
	double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
	size_t shown = 0;
	axis_t ax, ay;
	char buf[64];

	for (size_t i = 0; i < n; i++) {
		if (!isfinite(x[i]) || !isfinite(y[i]))
			continue;
		xlo = fmin(xlo, x[i]);
		xhi = fmax(xhi, x[i]);
		ylo = fmin(ylo, y[i]);
		yhi = fmax(yhi, y[i]);
		shown++;
	}
	if (!shown)
		xlo = xhi = ylo = yhi = 0;
	axis_fit(&ax, xlo, xhi);
	axis_fit(&ay, ylo, yhi);

	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	           "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
	           "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">\n",
	        SVG_W, SVG_H, SVG_W, SVG_H);
	fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
	fprintf(f, "<title>");
	svg_text(f, title);
	fprintf(f, "</title>\n<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" font-size=\"16\" "
	           "font-weight=\"bold\">",
	        SVG_W / 2, MARGIN_T / 2 + 6);
	svg_text(f, title);
	fprintf(f, "</text>\n");

	/* Grid lines and tick labels. */
	fprintf(f, "<g stroke=\"#ddd\" stroke-width=\"1\">\n");
	for (int i = 0; i < ax.count; i++) {
		double px = map(&ax, ax.first + i * ax.step, left, right);
		fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", px, top, px,
		        bottom);
	}
	for (int i = 0; i < ay.count; i++) {
		double py = map(&ay, ay.first + i * ay.step, bottom, top);
		fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", left, py,
		        right, py);
	}
	fprintf(f, "</g>\n<g text-anchor=\"middle\">\n");
	for (int i = 0; i < ax.count; i++) {
		double v = ax.first + i * ax.step;
		tick_label(buf, sizeof buf, v, ax.step);
		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">%s</text>\n", map(&ax, v, left, right),
		        bottom + 18, buf);
	}
	fprintf(f, "</g>\n<g text-anchor=\"end\">\n");
	for (int i = 0; i < ay.count; i++) {
		double v = ay.first + i * ay.step;
		tick_label(buf, sizeof buf, v, ay.step);
		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">%s</text>\n", left - 8,
		        map(&ay, v, bottom, top) + 4, buf);
	}
	fprintf(f, "</g>\n");

	/* Axes with their tick marks, and the labels. */
	fprintf(f, "<g stroke=\"black\" stroke-width=\"1\">\n"
	           "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n"
	           "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n",
	        left, bottom, right, bottom, left, top, left, bottom);
	for (int i = 0; i < ax.count; i++) {
		double px = map(&ax, ax.first + i * ax.step, left, right);
		fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", px, bottom,
		        px, bottom + 5);
	}
	for (int i = 0; i < ay.count; i++) {
		double py = map(&ay, ay.first + i * ay.step, bottom, top);
		fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", left - 5, py,
		        left, py);
	}
	fprintf(f, "</g>\n<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">", (left + right) / 2,
	        SVG_H - 15);
	svg_text(f, xlabel);
	fprintf(f, "</text>\n<text transform=\"translate(20 %.1f) rotate(-90)\" "
	           "text-anchor=\"middle\">",
	        (top + bottom) / 2);
	svg_text(f, ylabel);
	fprintf(f, "</text>\n");

	/* The curve. */
	fprintf(f, "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2\" "
	           "stroke-linejoin=\"round\" points=\"");
	for (size_t i = 0, k = 0; i < n; i++)
		if (isfinite(x[i]) && isfinite(y[i]))
			fprintf(f, "%s%.1f,%.1f", k++ ? " " : "", map(&ax, x[i], left, right),
			        map(&ay, y[i], bottom, top));
	fprintf(f, "\"/>\n");
	if (shown <= MARKER_MAX_POINTS) {
		fprintf(f, "<g fill=\"#1f77b4\">\n");
		for (size_t i = 0; i < n; i++)
			if (isfinite(x[i]) && isfinite(y[i]))
				fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\"/>\n",
				        map(&ax, x[i], left, right), map(&ay, y[i], bottom, top));
		fprintf(f, "</g>\n");
	}
	fprintf(f, "</svg>\n");
	return ferror(f) ? -1 : 0;
}
