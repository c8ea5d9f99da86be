/* web_config.h: cohort-web's configuration file, INI in the style of
 * cohortd.conf (lib/cohort_ini.h: every error names the file and line):
 *
 *   [web]
 *   listen = 127.0.0.1:8443        # HOST:PORT: IPv4, [IPv6] or localhost (port 0: any)
 *   metrics = none                 # loopback HOST:PORT for Prometheus (web_metrics.h)
 *   tls-cert = /etc/cohortd/web.crt  # PEM certificate (chain); required
 *   tls-key = /etc/cohortd/web.key   # its PEM private key; required
 *   users = /etc/cohortd/web-users   # the users file (web_users.h); required
 *   session-idle-s = 1800          # a session unused this long ends (60-86400)
 *   max-sessions = 1024            # sessions kept at most (1-100000)
 *   max-connections = 64           # HTTPS connections at once (4-1024)
 *
 *   [cohortd]
 *   publish = tcp://127.0.0.1:7401   # the daemon's status endpoints
 *   snapshot = tcp://127.0.0.1:7402
 *   server-key = /etc/cohortd/server.pub  # the daemon's public key
 *   key = /etc/cohortd/web.key-curve      # cohort-web's own CURVE key file
 *                                         # (role web in the access file)
 *   plaintext = false              # true: no CURVE (development daemons only)
 *
 *   [report]                       # the board reports (web_report.h)
 *   dir = /var/lib/cohort-web/reports  # the archive: DIR/PROGRAMME/YYYY-MM-DD/
 *   chromium = /usr/bin/chromium   # prints the PDFs (headless)
 *   sync-timeout-s = 60            # how long `report` waits for cohortd (1-3600)
 *   print-timeout-s = 120          # how long one PDF may take (5-3600)
 */
#ifndef WEB_CONFIG_H
#define WEB_CONFIG_H
#include <stddef.h>

#define WEB_CONFIG_DEFAULT "/etc/cohortd/cohort-web.conf"
#define WEB_REPORT_DIR_DEFAULT "/var/lib/cohort-web/reports"

/* The settings (each string malloc'd, or NULL when not set). */
typedef struct {
    char *listen;             /* default 127.0.0.1:8443 */
    char *metrics;            /* the metrics endpoint; NULL (default, "none"): off */
    char *tls_cert, *tls_key; /* required */
    char *users;              /* required */
    unsigned session_idle_s;  /* default 1800 */
    unsigned max_sessions;    /* default 1024 */
    unsigned max_connections; /* default 64 */
    char *publish, *snapshot; /* default tcp://127.0.0.1:7401 and :7402 */
    char *server_key, *key;   /* required unless plaintext */
    int plaintext;            /* default 0 */
    char *report_dir;         /* default WEB_REPORT_DIR_DEFAULT */
    char *chromium;           /* default /usr/bin/chromium */
    unsigned sync_timeout_s;  /* default 60 */
    unsigned print_timeout_s; /* default 120 */
} web_config_t;

/* Sets the defaults. */
void web_config_defaults(web_config_t *c);

/* Reads path over c and checks that everything required is set. Returns
 * 0, or -1 after printing each error (PATH:LINE: why) on stderr. */
int web_config_load(web_config_t *c, const char *path);

/* Frees the strings. */
void web_config_clear(web_config_t *c);

#endif
