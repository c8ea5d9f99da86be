/* intake.h: turning agency exports (JSON Lines, CSV files) into packed
 * events for the outbox.
 *
 * Contract:
 * - Content-derived event ids: a record that has no eventId gets one made
 *   from its content (intake_derive_id), so taking the same record in
 *   again (a restart, a re-sent file, a re-export that repeats it) gives
 *   the same id, and the daemon stores it once. The id is a UUIDv8 (RFC
 *   9562) from a keyed BLAKE2b of the packed Event with event_id cleared,
 *   and occurred_at cleared too when the record did not give it (it is then
 *   the time of intake, which must not change the id). Two records with
 *   the same content are the same fact. Records with an eventId keep it.
 * - Messages about bad records never contain values from the record:
 *   quoted parts of parse errors are replaced by '...'.
 * - Staff numbers (pseudonym.h): in a record's body, staffNumber (or
 *   staff_number) may stand instead of participantRef, and
 *   mentorStaffNumber (mentor_staff_number) instead of mentorRef. With a
 *   pseudonym key (the _with functions) each is replaced by its ref before
 *   the event is built, so the staff number is in no event, packed item,
 *   outbox record or message; derived ids are computed after that, from
 *   the ref (so they change with the key, and reveal no more than the ref
 *   does). Without a key, a record with a staff number is refused; a
 *   record with both a staff number and the ref it stands for is refused;
 *   a staff number that is not a string, or is not valid (pseudonym.h), is
 *   refused. A JSON null staff number counts as not given. A
 *   mentorStaffNumber beside a mentorAgency other than the event's agency
 *   is refused: that mentor's ref is the other agency's pseudonym.
 * - Raw refs (issue 13): unless raw_refs is set, a record whose body has a
 *   non-empty ref (participantRef, mentorRef: any *_ref string field) that
 *   is not in the pseudonym form (pseudonym_is_ref) is refused, whether or
 *   not a key is given: a staff number goes in staffNumber, with the key.
 *   raw_refs is for an agency that makes its own pseudonyms (the daemon
 *   must then run with ref_form = any) or that erases a person registered
 *   under an older ref. intake_jsonl and intake_file allow no raw refs. */
#ifndef COHORT_INTAKE_H
#define COHORT_INTAKE_H
#include <stddef.h>
#include <stdint.h>

#include "cohort.pb-c.h"
#include "outbox.h"
#include "pseudonym.h"

#define INTAKE_MAX_FILE (1u << 30) /* largest export file read */
#define INTAKE_MAX_PROBLEMS 20     /* problems described per file (all are counted) */

/* A whole export file, read and converted. */
typedef struct {
    outbox_item_t *items;          /* the events, packed, in file order */
    size_t n;                      /* how many */
    uint8_t hash[OUTBOX_HASH_LEN]; /* BLAKE2b-256 of the file's bytes */
    const char *kind;              /* "jsonl", or the CSV kind ("attendance", ...) */
    char *problems;                /* "line N: ..." / "row N: ..." lines, or NULL */
    size_t nproblems;              /* records (or file-level problems) that failed */
    uint8_t *mem_;                 /* private: the packed events */
} intake_file_t;

/* Events packed back to back, growing as they are pushed: what becomes one
 * outbox record (outbox_add). */
typedef struct {
    outbox_item_t *items; /* the events in push order; data: an offset into mem until sealed */
    size_t n;             /* items used */
    size_t cap;           /* room in items */
    uint8_t *mem;         /* the packed events */
    size_t mem_len;       /* bytes used in mem */
    size_t mem_cap;       /* room in mem */
} intake_batch_t;

/* Packs ev as the next item of b, with its event id and line (clamped to
 * UINT32_MAX), if it can be sent: its event_id has 16 bytes (a record's
 * eventId may decode to another length) and it fits one frame
 * (COHORT_CLIENT_MAX_FRAME with 64 bytes to spare). The caller owns b (free
 * items and mem). Returns 0, or (ev not added) -EINVAL (event_id not 16
 * bytes), -EMSGSIZE (too large for one frame) or -ENOMEM. */
int intake_batch_push(intake_batch_t *b, const Cohort__V1__Event *ev, uint64_t line);

/* Why intake_batch_push (or cohort_client_submit) refused an event, for a
 * result line or a file's problems: rc -EMSGSIZE or -EINVAL. */
const char *intake_push_error(int rc);

/* Turns every item's data from an offset into a pointer into b->mem; call
 * once, after the last push and before handing the items on. The pointers
 * hold until mem is pushed to or freed. */
void intake_batch_seal(intake_batch_t *b);

/* Copies src into dst (n bytes) with every '...'-quoted part longer than
 * one character replaced by '...'. */
void intake_redact(char *dst, size_t n, const char *src);

/* Replaces ev's event_id by the content-derived id (see above);
 * occurred_given says whether the record gave occurredAt. Returns 0 or
 * -ENOMEM. */
int intake_derive_id(Cohort__V1__Event *ev, int occurred_given);

/* Parses one JSON Lines record (cohort_json.h). With derive, a record
 * without eventId gets the content-derived id instead of a random one.
 * Returns the event (free with cohort__v1__event__free_unpacked), or NULL
 * with a redacted one-line message in err. */
Cohort__V1__Event *intake_jsonl(const char *text, size_t len, int derive, char *err, size_t errlen);

/* intake_jsonl with staff numbers replaced by refs under ps (NULL: no key,
 * so records with a staff number are refused), and refs of any form
 * allowed if raw_refs (see above). */
Cohort__V1__Event *intake_jsonl_with(const char *text, size_t len, int derive,
                                     const pseudonym_t *ps, int raw_refs, char *err, size_t errlen);

/* 1 if a JSON Lines line of len bytes is to be skipped: blank (spaces,
 * tabs, CR, FF, VT) or a comment (its first other character is '#'). */
int intake_skip(const char *text, size_t len);

/* One line of JSON Lines as every reader of the agent takes it (send,
 * send --outbox, and watch's .jsonl files): skipped if intake_skip, else
 * parsed by intake_jsonl_with with derived ids. Returns 1 with the event in
 * *out (the caller frees it with cohort__v1__event__free_unpacked), 0 for a
 * line to skip (*out NULL), or -EINVAL (*out NULL) with a redacted,
 * non-empty one-line message in err. */
int intake_line(const char *text, size_t len, const pseudonym_t *ps, int raw_refs,
                Cohort__V1__Event **out, char *err, size_t errlen);

/* Reads the export file at path, named name (its extension, .jsonl or
 * .csv in any case, says how to read it; a CSV's name may also give its
 * kind), into *out: every record converted, with content-derived ids; bad
 * records are listed in out->problems (the file as a whole is then not to
 * be taken in). Returns 0 (check out->nproblems), or a negative errno with
 * a message in err when the file cannot be read (-ENOENT: it is gone,
 * -EFBIG: over INTAKE_MAX_FILE, -EINVAL: not .jsonl or .csv, -ENODATA:
 * the file is empty, -EAGAIN: the file changed while it was read, by size
 * or mtime from fstat before and after, or by a byte past the size it had:
 * it is still being written, so try again later). */
int intake_file(const char *path, const char *name, intake_file_t *out, char *err, size_t errlen);

/* intake_file with staff numbers (a CSV column staffNumber instead of
 * participantRef) replaced by refs under ps (NULL: refused), and refs of
 * any form allowed if raw_refs (see above). */
int intake_file_with(const char *path, const char *name, const pseudonym_t *ps, int raw_refs,
                     intake_file_t *out, char *err, size_t errlen);

/* Frees what intake_file filled in; *f is zeroed. */
void intake_file_free(intake_file_t *f);

#endif
