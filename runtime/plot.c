/*
 * plot.c - a self-contained SVG line chart for --plot: title, both axes with
 * "nice" round tick values (1, 2 or 5 times a power of ten), light grid lines,
 * axis labels and each curve as one polyline (plus markers when its points are
 * few), in its own colour, named in a legend when there are several.  No
 * scales other than linear.
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
#define LEGEND_ROW 18        /* pixels between two legend entries */

/* The curves' colours, in series order (matplotlib's first ones), reused
 * past the last. */
static const char *const series_colour[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"};
#define N_COLOURS (sizeof series_colour / sizeof series_colour[0])

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

static int finite_point(const nncc_series_t *c, size_t i)
{
	return isfinite(c->x[i]) && isfinite(c->y[i]);
}

/* One curve: the polyline, and a dot per point when they are few. */
static void plot_curve(FILE *f, const nncc_series_t *c, const char *colour, const axis_t *ax,
                       const axis_t *ay, double left, double right, double top, double bottom)
{
	size_t shown = 0;
	fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" "
	           "stroke-linejoin=\"round\" points=\"", colour);
	for (size_t i = 0; i < c->n; i++)
		if (finite_point(c, i))
			fprintf(f, "%s%.1f,%.1f", shown++ ? " " : "", map(ax, c->x[i], left, right),
			        map(ay, c->y[i], bottom, top));
	fprintf(f, "\"/>\n");
	if (shown > MARKER_MAX_POINTS)
		return;
	fprintf(f, "<g fill=\"%s\">\n", colour);
	for (size_t i = 0; i < c->n; i++)
		if (finite_point(c, i))
			fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\"/>\n",
			        map(ax, c->x[i], left, right), map(ay, c->y[i], bottom, top));
	fprintf(f, "</g>\n");
}

/* The legend in the plot area's top right corner: a line in each curve's
 * colour and its label. */
static void plot_legend(FILE *f, const nncc_series_t *series, size_t n_series, double right,
                        double top)
{
	fprintf(f, "<g>\n");
	for (size_t k = 0; k < n_series; k++) {
		double y = top + 16 + (double)k * LEGEND_ROW;
		fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
		           "stroke-width=\"2\"/>\n<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">",
		        right - 40, y - 4, right - 12, y - 4, series_colour[k % N_COLOURS], right - 46, y);
		svg_text(f, series[k].label);
		fprintf(f, "</text>\n");
	}
	fprintf(f, "</g>\n");
}

int nncc_plot_svg(FILE *f, const char *title, const char *xlabel, const char *ylabel,
                  const nncc_series_t *series, size_t n_series)
{
	const double left = MARGIN_L, right = SVG_W - MARGIN_R;
	const double top = MARGIN_T, bottom = SVG_H - MARGIN_B;
	double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
	size_t shown = 0;
	axis_t ax, ay;
	char buf[64];

	for (size_t k = 0; k < n_series; k++)
		for (size_t i = 0; i < series[k].n; i++) {
			const nncc_series_t *c = &series[k];
			if (!finite_point(c, i))
				continue;
			xlo = fmin(xlo, c->x[i]);
			xhi = fmax(xhi, c->x[i]);
			ylo = fmin(ylo, c->y[i]);
			yhi = fmax(yhi, c->y[i]);
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

	/* The curves, then the legend over them. */
	for (size_t k = 0; k < n_series; k++)
		plot_curve(f, &series[k], series_colour[k % N_COLOURS], &ax, &ay, left, right, top,
		           bottom);
	if (n_series > 1)
		plot_legend(f, series, n_series, right, top);
	fprintf(f, "</svg>\n");
	return ferror(f) ? -1 : 0;
}
