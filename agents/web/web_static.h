/* web_static.h: cohort-web's static files, compiled in from
 * agents/web/static/ (CMake generates web_static.c at configure time), so
 * the pages need nothing from anywhere else: no CDN, no file on disk. */
#ifndef WEB_STATIC_H
#define WEB_STATIC_H
#include <stddef.h>

extern const unsigned char web_static_css[];        /* static/cohort-web.css */
extern const size_t web_static_css_len;             /* its length */
extern const unsigned char web_static_js[];         /* static/cohort-web.js */
extern const size_t web_static_js_len;              /* its length */
extern const unsigned char web_static_report_css[]; /* static/cohort-report.css */
extern const size_t web_static_report_css_len;      /* its length */

#endif
