/* agent_send.c: cohort-agent send and flush: opens the input and the
 * outbox, then runs the send driver (agent_drive.h) with the file reader
 * (plain send) or the outbox (send --outbox, flush) as its source. The
 * contract is at the top of cohort_agent.c. */
#include "agent_drive.h"

int agent_send_run(const args_t *a)
{
    agent_drive_t d = {.a = a,
                       .src = a->outbox != NULL ? &agent_source_outbox : &agent_source_file,
                       .in = {.fd = -1}}; /* the client's callback gets it until finish */
    struct stat st;
    int rc;

    if (a->cmd == CMD_SEND) {
        if (strcmp(a->file, "-") == 0) {
            d.in.fd = STDIN_FILENO;
        } else if ((d.in.fd = open(a->file, O_RDONLY | O_CLOEXEC)) < 0) {
            fprintf(stderr, PROG ": cannot open %s: %s\n", a->file, strerror(errno));
            return 2;
        }
        if (fstat(d.in.fd, &st) == 0 && S_ISREG(st.st_mode))
            d.in.size = (uint64_t)st.st_size; /* for the share done */
        if (a->outbox)
            d.in_name = a->file; /* "-" for standard input */
    }
    if (a->outbox) {
        if (agent_drive_open_outbox(&d, a->outbox) != 0) {
            if (d.in.fd > STDIN_FILENO)
                close(d.in.fd);
            return 2;
        }
        agent_expire(&d, NULL);
    }
    if ((rc = agent_drive_connect(&d, a->defer_s)) != 0)
        return agent_drive_finish(&d, rc);
    agent_progress_begin(&d);
    if (a->cmd == CMD_FLUSH)
        progress_set_total(d.pr, outbox_pending(d.ob)); /* what is waiting */
    return agent_drive_run(&d);
}
