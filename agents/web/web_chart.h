/* web_chart.h: cohort-web's charts, drawn on the server as inline SVG from
 * a table of web_table.h (so a chart never shows a figure its table does
 * not): bars for counts and shares, lines over months for the history. Each
 * chart has role="img", a <title> and a <desc> that states every figure it
 * draws (the text alternative), is followed by its table on the page, and
 * uses only the classes styled in static/cohort-web.css (no inline style,
 * which the Content-Security-Policy forbids). A hidden cell is drawn as a
 * gap marked "hidden", never as a bar. */
#ifndef WEB_CHART_H
#define WEB_CHART_H
#include <stdio.h>

#include "web_table.h"

/* Writes the chart of table t as a <figure> with its <svg> and a
 * <figcaption>, if the table has a chart (by its id); otherwise writes
 * nothing. Returns 1 if it wrote a chart, 0 if not. */
int web_chart_svg(FILE *f, const web_table_t *t);

#endif
