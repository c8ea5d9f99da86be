/* t_render_sched.c: when status documents are rendered (daemon/render_sched.c),
 * over real projections fed the Step Forward example, with a fake clock:
 * coalescing per topic, the duty gate, the due time of held-back topics,
 * render-all at stop. */
#include "cohort_json.h"
#include "proj.h"
#include "render_sched.h"
#include "tap.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MS 1000000ull /* nanoseconds */

/* The fake clock: returns now, then advances it by step. */
typedef struct {
    uint64_t now, step;
} fclock_t;

static uint64_t fake_now(void *arg)
{
    fclock_t *c = arg;
    uint64_t t = c->now;
    c->now += c->step;
    return t;
}

static char *lines[8]; /* the example's first events, as JSON */

/* Applies example line i to p at the next sequence; 0 or the error. */
static int apply(proj_t *p, int i)
{
    char err[256], why[256];
    Cohort__V1__Event *e = cohort_json_to_event(lines[i], strlen(lines[i]), err, sizeof err);
    int rc;
    if (!e) {
        diag("line %d: %s", i + 1, err);
        return -EINVAL;
    }
    rc = proj_apply(p, e, proj_seq(p) + 1, why, sizeof why);
    if (rc != 0)
        diag("line %d refused (%d): %s", i + 1, rc, why);
    cohort__v1__event__free_unpacked(e, NULL);
    return rc;
}

/* Index of topic in l, or -1. */
static int find(const rsched_list_t *l, const char *topic)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i].topic, topic) == 0)
            return (int)i;
    return -1;
}

#define PROG "programme/step-forward"
#define COHORT "cohort/step-forward/2009-1"

static void t_coalescing(void)
{
    fclock_t c = {.now = 10000 * MS, .step = 0};
    proj_t *p = proj_new(NULL);
    rsched_t *rs = rsched_new(100, fake_now, &c);
    rsched_list_t out = {0};
    uint64_t due;

    ok(rs != NULL && rsched_render(rs, p, 1, 0, &out) == 0 && out.n == 0,
       "nothing changed: nothing rendered, nothing due");
    ok(apply(p, 0) == 0, "ProgrammeDefined applied");
    ok(rsched_wanted(rs, p) == 1, "a changed topic never rendered is wanted at once");
    due = rsched_render(rs, p, 1, 0, &out);
    ok(find(&out, PROG) >= 0 && out.v[find(&out, PROG)].doc != NULL && due == 0 &&
           rsched_pending(rs) == 0,
       "its document is rendered; nothing held back, nothing due");
    rsched_list_clear(&out);

    c.now += 1 * MS; /* 1 ms later, well within coalesce_ms */
    ok(apply(p, 1) == 0, "CohortOpened applied");
    due = rsched_render(rs, p, 1, 0, &out);
    ok(find(&out, COHORT) >= 0, "a topic not rendered before is rendered at once (per topic)");
    ok(find(&out, PROG) < 0 && rsched_pending(rs) == 1,
       "the programme topic, rendered 1 ms ago, is held back (coalesce_ms 100)");
    ok(due == 10000 + 100, "and is due coalesce_ms after its last render (got %llu)",
       (unsigned long long)due);
    rsched_list_clear(&out);

    c.now = 10000 * MS + 99 * MS;
    ok(rsched_wanted(rs, p) == 0, "not wanted 1 ms before it is due");
    ok(rsched_render(rs, p, 1, 0, &out) == 10100 && out.n == 0, "nor rendered; still due then");
    c.now = 10100 * MS;
    ok(rsched_wanted(rs, p) == 1, "wanted when due");
    due = rsched_render(rs, p, 1, 0, &out);
    ok(out.n == 1 && find(&out, PROG) == 0 && due == 0 && rsched_pending(rs) == 0,
       "rendered once when due, with its latest state; nothing left");
    rsched_list_clear(&out);

    /* Render-all at stop: no coalescing. */
    c.now += 1 * MS;
    ok(apply(p, 2) == 0 && apply(p, 3) == 0, "a registration and an enrolment applied");
    due = rsched_render(rs, p, 1, 0, &out);
    size_t first = out.n, held = rsched_pending(rs);
    ok(held > 0 && due > 0, "some topics held back (%zu), due at %llu", held,
       (unsigned long long)due);
    rsched_list_clear(&out);
    due = rsched_render(rs, p, 1, 1, &out);
    ok(out.n == held && due == 0 && rsched_pending(rs) == 0,
       "render-all renders every held-back topic at once (%zu; %zu earlier)", out.n, first);
    rsched_list_free(&out);
    ok(out.v == NULL && out.n == 0 && out.cap == 0, "rsched_list_free empties the list");
    rsched_destroy(&rs);
    rsched_destroy(&rs);
    ok(rs == NULL, "destroy nulls the pointer and is idempotent");
    proj_destroy(&p);
}

static void t_duty_gate(void)
{
    /* Every clock read advances 5 ms: a rendering takes 5 ms. */
    fclock_t c = {.now = 50000 * MS, .step = 5 * MS};
    proj_t *p = proj_new(NULL);
    rsched_t *rs = rsched_new(0, fake_now, &c);
    rsched_list_t out = {0};
    uint64_t due, t_end;

    apply(p, 0);
    due = rsched_render(rs, p, 100, 0, &out); /* a batch of 100 events: 5 ms of rendering */
    t_end = c.now - 5 * MS;                   /* the second read, after rendering */
    ok(out.n > 0 && due == 0, "a batch of 100 renders what changed (coalesce_ms 0)");
    rsched_list_clear(&out);
    apply(p, 1);
    c.step = 0;
    c.now = t_end + 1 * MS;
    ok(rsched_wanted(rs, p) == 0, "right after, the duty gate holds rendering back");
    due = rsched_render(rs, p, 100, 0, &out);
    ok(out.n == 0 && rsched_pending(rs) > 0, "nothing rendered within the gate");
    ok(due == (t_end + RSCHED_DUTY * 5 * MS + MS - 1) / MS,
       "due when the gate opens: %d times the rendering time after it (got %llu, want %llu)",
       RSCHED_DUTY, (unsigned long long)due,
       (unsigned long long)((t_end + RSCHED_DUTY * 5 * MS + MS - 1) / MS));
    c.now = t_end + RSCHED_DUTY * 5 * MS;
    ok(rsched_wanted(rs, p) == 1, "wanted once the gate opens");
    c.step = 5 * MS;
    due = rsched_render(rs, p, 1, 0, &out);
    ok(out.n > 0 && due == 0 && rsched_pending(rs) == 0, "then rendered");
    rsched_list_clear(&out);
    /* After a batch of one event the gate is nil: low load is not held back. */
    apply(p, 2); /* a registration: changes no document */
    apply(p, 3); /* an enrolment */
    c.step = 0;
    ok(rsched_wanted(rs, p) == 1, "after rendering for a one-event batch there is no gate");
    /* A batch of 3: the gate is (3 - 1) x the rendering time. */
    c.step = 5 * MS;
    rsched_render(rs, p, 3, 0, &out);
    t_end = c.now - 5 * MS;
    ok(out.n > 0, "a batch of 3 renders");
    rsched_list_clear(&out);
    apply(p, 4);
    apply(p, 5);
    c.step = 0;
    c.now = t_end + 2 * 5 * MS - 1;
    ok(rsched_wanted(rs, p) == 0, "a batch of 3: held back for 2 x the rendering time");
    c.now = t_end + 2 * 5 * MS;
    ok(rsched_wanted(rs, p) == 1, "and no longer");
    /* Render-all ignores the gate. */
    c.now = t_end;
    due = rsched_render(rs, p, 1, 1, &out);
    ok(out.n > 0 && due == 0 && rsched_pending(rs) == 0, "render-all ignores the gate");
    rsched_list_free(&out);
    rsched_destroy(&rs);
    proj_destroy(&p);
}

int main(void)
{
    char path[512];
    FILE *f;
    snprintf(path, sizeof path, "%s/examples/step-forward.jsonl", COHORT_SOURCE_DIR);
    if (!(f = fopen(path, "r"))) {
        printf("Bail out! %s: %s\n", path, strerror(errno));
        return 1;
    }
    for (int i = 0; i < 8; i++) {
        size_t cap = 0;
        if (getline(&lines[i], &cap, f) < 0) {
            printf("Bail out! %s: short\n", path);
            return 1;
        }
    }
    fclose(f);
    t_coalescing();
    t_duty_gate();
    for (int i = 0; i < 8; i++)
        free(lines[i]);
    return tap_done();
}
