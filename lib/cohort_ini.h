/* cohort_ini.h: INI configuration files, read with inih (Debian's
 * libinih), with what the tools need on top: every error names the file and
 * the line, and no mistake is silently ignored. Shared by cohortd's
 * configuration (daemon/config.c) and cohort-agent's (agents/agent_config.c).
 *
 * The format (inih's, restricted):
 *   - "[section]" starts a section; "key = value" (or "key: value") sets an
 *     option in the current section. Spaces around keys and values are
 *     ignored; a value is taken literally (quotes are part of it).
 *   - A line whose first non-blank character is '#' or ';' is a comment, as
 *     is the rest of a line from a ';' that follows a space or tab.
 *   - Leading spaces never continue the previous line (no multi-line
 *     values); a UTF-8 byte-order mark at the start is skipped.
 * Errors, each reported once as "PATH:LINE: why" through on_error:
 *   - a line longer than inih's limit (COHORT_INI_MAX_LINE characters in
 *     Debian's build), a NUL byte, a line that is not a section, an option
 *     or a comment;
 *   - an unknown section (its options are then not reported one by one);
 *   - an option before any section;
 *   - an option given twice in one section ("given twice (first on line N)");
 *   - whatever on_value refuses (unknown key, bad value):
 *     "PATH:LINE: option 'KEY': WHY".
 * A file that cannot be opened or read gives "PATH: cannot read: why".
 * Nothing here logs or prints: messages go to on_error only. */
#ifndef COHORT_INI_H
#define COHORT_INI_H
#include <stddef.h>

/* Longest line (without its newline) that inih as built by Debian (its
 * default INI_MAX_LINE of 200, minus "\r\n" and the NUL) accepts; the
 * limit actually applied is the one inih passes to its reader. */
#define COHORT_INI_MAX_LINE 197

/* What to read and whom to tell. */
typedef struct {
    const char *path;            /* the file */
    const char *const *sections; /* known section names, NULL-terminated */
    /* Called for each option of a known section, in file order, with the
     * line it is on. Returns 0 if it was taken, or -1 after writing why not
     * (one phrase, no file or line: "unknown option", "'x' is not a number
     * from 1 to 9") into why (len bytes). */
    int (*on_value)(void *arg, const char *section, const char *key, const char *value, int line,
                    char *why, size_t len);
    void (*on_error)(void *arg, const char *msg); /* one complete message, no newline */
    void *arg;                                    /* passed to both */
} cohort_ini_t;

/* Reads ini->path. Returns the number of errors reported (0: the file is
 * good and every option was taken), or a negative errno if the file could
 * not be opened or read (also reported). */
int cohort_ini_parse(const cohort_ini_t *ini);

/* Reads a boolean value: true/false, yes/no, on/off, 1/0 (any case).
 * Returns 0 with *out set, or -EINVAL. */
int cohort_ini_bool(const char *value, int *out);

#endif
