/* t_pseudonym: unit tests for pseudonym.c and the staff-number handling of
 * intake.c: the HMAC primitive against RFC 4231, refs against values
 * computed independently (Python's hmac module, see below), normalisation,
 * stability, another key giving other refs, key files (format, size,
 * permissions, keygen with O_EXCL and mode 0600), and records with staff
 * numbers in JSON Lines and CSV: replaced by the ref, refused without a
 * key, refused together with a ref, and never in an error message. */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cohort_json.h"
#include "intake.h"
#include "pseudonym.h"
#include "tap.h"

/* Expected refs for the key 00 01 02 ... 1f, computed independently with
 *   python3 -c 'import hmac,hashlib,base64; m=hmac.new(bytes(range(32)),
 *     b"WM-0042",hashlib.sha256).digest();
 *     print("p1:"+base64.b32encode(m[:20]).decode().lower())'
 * (HMAC-SHA256 of the normalised staff number, first 20 bytes, base32). */
#define REF_WM0042 "p1:dduyty7mmpurhiuqyuczpw7k5f6mpplf"
#define REF_0042 "p1:ctcfx7zoruscyq5ubdbhy27qjnzszz3g"
#define REF_42 "p1:px4yteslf27yqmwibabncij2riq2ayvc"
/* The same for the key 01 02 ... 20 and "WM-0042". */
#define REF_K2_WM0042 "p1:mbr3wgrwyiphgsnnbs4lqaxuqkmiqzod"

static char dir[] = "/tmp/t_pseudonym-XXXXXX";

/* Writes text to dir/name with the given mode; returns the path (static). */
static const char *put_file(const char *name, const char *text, mode_t mode)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    unlink(path);
    FILE *f = fopen(path, "w");
    if (!f)
        return path;
    fputs(text, f);
    fclose(f);
    chmod(path, mode);
    return path;
}

static void test_primitive(void)
{
    /* RFC 4231 test case 2 */
    static const char want[] = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
    crypto_auth_hmacsha256_state st;
    unsigned char mac[32];
    char hex[65];
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)"Jefe", 4);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)"what do ya want for nothing?", 28);
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_bin2hex(hex, sizeof hex, mac, sizeof mac);
    is_str(hex, want, "libsodium HMAC-SHA256 matches RFC 4231 test case 2");
}

static void test_refs(void)
{
    uint8_t k1[32], k2[32];
    pseudonym_t *p = NULL, *q = NULL;
    char r[64], r2[64], small[PSEUDONYM_REF_LEN];

    for (int i = 0; i < 32; i++) {
        k1[i] = (uint8_t)i;
        k2[i] = (uint8_t)(i + 1);
    }
    is_int(pseudonym_from_key(&p, k1), 0, "a pseudonym from a key");
    is_int(pseudonym_from_key(&q, k2), 0, "and from another key");
    is_int(pseudonym_ref(p, "WM-0042", r, sizeof r), 0, "ref of WM-0042");
    is_str(r, REF_WM0042, "equals the independently computed ref");
    is_int((int)strlen(r), PSEUDONYM_REF_LEN, "35 characters");
    ok(strspn(r, "abcdefghijklmnopqrstuvwxyz234567p1:") == strlen(r),
       "within the protocol's ref syntax");
    pseudonym_ref(p, "0042", r, sizeof r);
    is_str(r, REF_0042, "ref of 0042");
    pseudonym_ref(p, "42", r, sizeof r);
    is_str(r, REF_42, "ref of 42: leading zeros are kept, so it differs");
    pseudonym_ref(p, " \twm-0042\r\n", r, sizeof r);
    is_str(r, REF_WM0042, "trimmed and upper-cased: the same person");
    pseudonym_ref(p, "Wm-0042", r2, sizeof r2);
    is_str(r2, REF_WM0042, "mixed case: the same");
    for (int i = 0; i < 3; i++)
        pseudonym_ref(p, "WM-0042", r2, sizeof r2);
    is_str(r2, REF_WM0042, "stable over repeated calls (the key state is not consumed)");
    is_int(pseudonym_ref(q, "WM-0042", r2, sizeof r2), 0, "ref under the other key");
    is_str(r2, REF_K2_WM0042, "equals its independently computed ref");
    ok(strcmp(r, r2) != 0, "another key gives another ref");

    is_int(pseudonym_ref(p, "", r, sizeof r), -EINVAL, "empty: refused");
    is_int(pseudonym_ref(p, "   ", r, sizeof r), -EINVAL, "only spaces: refused");
    is_int(pseudonym_ref(p, "WM 0042", r, sizeof r), -EINVAL, "a space inside: refused");
    is_int(pseudonym_ref(p,
                         "WM\x01"
                         "0042",
                         r, sizeof r),
           -EINVAL, "a control character: refused");
    is_int(pseudonym_ref(p, "W\xc3\xa9", r, sizeof r), -EINVAL, "non-ASCII: refused");
    char longs[80];
    memset(longs, '7', 64);
    longs[64] = 0;
    is_int(pseudonym_ref(p, longs, r, sizeof r), 0, "64 characters: fine");
    longs[64] = '7';
    longs[65] = 0;
    is_int(pseudonym_ref(p, longs, r, sizeof r), -EINVAL, "65 characters: refused");
    is_int(pseudonym_ref(p, "WM-0042", small, sizeof small), -ENOSPC, "a short buffer: -ENOSPC");
    char n[PSEUDONYM_STAFF_MAX + 1];
    is_int(pseudonym_normalise(" ab-c1 ", 7, n, sizeof n), 5, "normalise: length 5");
    is_str(n, "AB-C1", "normalise: trimmed, upper-cased");

    pseudonym_destroy(&p);
    ok(p == NULL, "destroy nulls the pointer");
    pseudonym_destroy(&p);
    pseudonym_destroy(&q);
}

static void test_key_files(void)
{
    pseudonym_t *p = NULL;
    char err[512], r[64], path[512];
    const char *f;
    struct stat st;

    f = put_file("k1", "000102030405060708090a0b0c0d0e0f101112131415161718191A1B1C1D1E1F\n", 0600);
    if (!ok(pseudonym_new(&p, f, err, sizeof err) == 0, "a 64-hex-digit key file loads"))
        diag("%s", err);
    if (p) {
        pseudonym_ref(p, "WM-0042", r, sizeof r);
        is_str(r, REF_WM0042, "and gives the same refs as the key itself");
    }
    pseudonym_destroy(&p);
    f = put_file("k2", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", 0400);
    is_int(pseudonym_new(&p, f, err, sizeof err), 0, "mode 0400, no newline: fine");
    pseudonym_destroy(&p);
    f = put_file("k3", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n", 0640);
    is_int(pseudonym_new(&p, f, err, sizeof err), -EPERM, "group-readable: refused");
    ok(strstr(err, "0600") != NULL, "the message says what mode is needed");
    ok(p == NULL, "and nothing is loaded");
    f = put_file("k4", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n", 0604);
    is_int(pseudonym_new(&p, f, err, sizeof err), -EPERM, "others-readable: refused");
    f = put_file("k5", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e\n", 0600);
    is_int(pseudonym_new(&p, f, err, sizeof err), -EINVAL, "31 bytes: refused");
    ok(strstr(err, "64 hex digits") != NULL, "the message says what a key is");
    f = put_file("k6", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20\n",
                 0600);
    is_int(pseudonym_new(&p, f, err, sizeof err), -EINVAL, "33 bytes: refused");
    f = put_file("k7", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1g\n", 0600);
    is_int(pseudonym_new(&p, f, err, sizeof err), -EINVAL, "a non-hex digit: refused");
    f = put_file("k8", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n", 0600);
    is_int(pseudonym_new(&p, f, err, sizeof err), -EINVAL, "base64: refused");
    f = put_file("k9", "", 0600);
    is_int(pseudonym_new(&p, f, err, sizeof err), -EINVAL, "empty: refused");
    snprintf(path, sizeof path, "%s/missing", dir);
    is_int(pseudonym_new(&p, path, err, sizeof err), -ENOENT, "missing: -ENOENT");
    is_int(pseudonym_new(&p, dir, err, sizeof err), -EINVAL, "a directory: refused");
    ok(p == NULL, "nothing loaded after the failures");

    snprintf(path, sizeof path, "%s/new.key", dir);
    if (!ok(pseudonym_keygen(path, err, sizeof err) == 0, "keygen writes a new key"))
        diag("%s", err);
    ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "mode 0600");
    ok(st.st_size == 65, "64 hex digits and a newline");
    if (!ok((pseudonym_new(&p, path, err, sizeof err)) == 0, "it loads"))
        diag("%s", err);
    char a[64] = "", b[64] = "";
    if (p)
        pseudonym_ref(p, "WM-0042", a, sizeof a);
    pseudonym_destroy(&p);
    is_int(pseudonym_keygen(path, err, sizeof err), -EEXIST, "keygen never overwrites");
    pseudonym_new(&p, path, err, sizeof err);
    if (p)
        pseudonym_ref(p, "WM-0042", b, sizeof b);
    pseudonym_destroy(&p);
    ok(a[0] && strcmp(a, b) == 0, "the key file is unchanged (same ref after reloading)");
    snprintf(path, sizeof path, "%s/new2.key", dir);
    pseudonym_keygen(path, err, sizeof err);
    pseudonym_new(&p, path, err, sizeof err);
    if (p)
        pseudonym_ref(p, "WM-0042", b, sizeof b);
    pseudonym_destroy(&p);
    ok(b[0] && strcmp(a, b) != 0, "a second key gives another ref");
    snprintf(path, sizeof path, "%s/link.key", dir);
    symlink("new2.key", path);
    is_int(pseudonym_keygen(path, err, sizeof err), -EEXIST, "keygen does not follow a symlink");
}

/* The participantRef of ev's body, or "". */
static const char *pref(const Cohort__V1__Event *ev)
{
    if (ev->body_case == COHORT__V1__EVENT__BODY_ATTENDANCE_RECORDED)
        return ev->attendance_recorded->participant_ref;
    if (ev->body_case == COHORT__V1__EVENT__BODY_MENTOR_ASSIGNED)
        return ev->mentor_assigned->participant_ref;
    if (ev->body_case == COHORT__V1__EVENT__BODY_PARTICIPANT_REGISTERED)
        return ev->participant_registered->participant_ref;
    return "";
}

/* True if the n bytes at p contain s. */
static int has(const void *p, size_t n, const char *s)
{
    return memmem(p, n, s, strlen(s)) != NULL;
}

static void test_intake(void)
{
    uint8_t k1[32], k2[32];
    pseudonym_t *p = NULL, *q = NULL;
    char err[256];
    Cohort__V1__Event *ev, *e2;

    for (int i = 0; i < 32; i++) {
        k1[i] = (uint8_t)i;
        k2[i] = (uint8_t)(i + 1);
    }
    pseudonym_from_key(&p, k1);
    pseudonym_from_key(&q, k2);
    const char *att = "{\"agency\":\"wm-police\",\"occurredAt\":\"2009-05-01T09:00:00Z\","
                      "\"attendanceRecorded\":{\"staffNumber\":\"wm-0042\",\"programmeId\":\"sf\","
                      "\"cohortId\":\"c1\",\"component\":\"COACHING\",\"sessionId\":\"s1\","
                      "\"sessionDate\":\"2009-05-01\",\"status\":\"PRESENT\",\"minutes\":120}}";
    ev = intake_jsonl_with(att, strlen(att), 1, p, 0, err, sizeof err);
    if (!ok(ev != NULL, "JSON Lines: staffNumber with a key is taken"))
        diag("%s", err);
    if (ev) {
        is_str(pref(ev), REF_WM0042, "participantRef is the ref of the normalised number");
        size_t n = protobuf_c_message_get_packed_size(&ev->base);
        uint8_t *buf = malloc(n);
        protobuf_c_message_pack(&ev->base, buf);
        ok(!has(buf, n, "0042") && !has(buf, n, "wm-0") && !has(buf, n, "WM-0"),
           "the packed event holds no part of the staff number");
        ok(has(buf, n, REF_WM0042), "it holds the ref");
        free(buf);
        char *js = cohort_json_from_message(&ev->base);
        ok(js && !strstr(js, "0042") && !strstr(js, "taff"), "nor does its JSON form");
        free(js);
    }
    /* the same record with the ref given: the same event, the same derived id */
    const char *att_ref = "{\"agency\":\"wm-police\",\"occurredAt\":\"2009-05-01T09:00:00Z\","
                          "\"attendanceRecorded\":{\"participantRef\":\"" REF_WM0042 "\","
                          "\"programmeId\":\"sf\",\"cohortId\":\"c1\",\"component\":\"COACHING\","
                          "\"sessionId\":\"s1\",\"sessionDate\":\"2009-05-01\","
                          "\"status\":\"PRESENT\",\"minutes\":120}}";
    e2 = intake_jsonl_with(att_ref, strlen(att_ref), 1, NULL, 0, err, sizeof err);
    ok(ev && e2 && e2->event_id.len == 16 && ev->event_id.len == 16 &&
           memcmp(ev->event_id.data, e2->event_id.data, 16) == 0,
       "derived id computed after the substitution (same as with the ref given)");
    if (e2)
        cohort__v1__event__free_unpacked(e2, NULL);
    e2 = intake_jsonl_with(att, strlen(att), 1, q, 0, err, sizeof err);
    ok(ev && e2 && strcmp(pref(e2), REF_K2_WM0042) == 0 &&
           memcmp(ev->event_id.data, e2->event_id.data, 16) != 0,
       "another key: another ref and another derived id");
    if (e2)
        cohort__v1__event__free_unpacked(e2, NULL);
    if (ev)
        cohort__v1__event__free_unpacked(ev, NULL);

    ev = intake_jsonl_with(att, strlen(att), 0, NULL, 0, err, sizeof err);
    ok(ev == NULL, "no key: refused");
    if (!ok(strstr(err, "pseudonym key") != NULL, "saying a pseudonym key is needed"))
        diag("%s", err);
    ok(!strstr(err, "0042"), "without the staff number in the message");
    ev = intake_jsonl(att, strlen(att), 1, err, sizeof err);
    ok(ev == NULL, "intake_jsonl (no key): refused too");

    const char *both =
        "{\"agency\":\"wm-police\",\"attendanceRecorded\":{\"staff_number\":\"WM-0042\","
        "\"participantRef\":\"p1:xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx2\"}}";
    ev = intake_jsonl_with(both, strlen(both), 1, p, 0, err, sizeof err);
    if (!ok(ev == NULL && strstr(err, "give one") && !strstr(err, "0042"),
            "staff number and participantRef together: refused"))
        diag("%s", err);
    const char *twice = "{\"agency\":\"wm-police\",\"attendanceRecorded\":{\"staff_number\":\"A1\","
                        "\"staffNumber\":\"A1\"}}";
    ev = intake_jsonl_with(twice, strlen(twice), 1, p, 0, err, sizeof err);
    ok(ev == NULL, "staffNumber and staff_number together: refused");
    const char *bad =
        "{\"agency\":\"wm-police\",\"attendanceRecorded\":{\"staffNumber\":\"WM 0042\"}}";
    ev = intake_jsonl_with(bad, strlen(bad), 1, p, 0, err, sizeof err);
    if (!ok(ev == NULL && strstr(err, "not a valid staff number") && !strstr(err, "0042"),
            "an invalid staff number: refused, without its value in the message"))
        diag("%s", err);
    const char *num = "{\"agency\":\"wm-police\",\"attendanceRecorded\":{\"staffNumber\":42}}";
    ev = intake_jsonl_with(num, strlen(num), 1, p, 0, err, sizeof err);
    ok(ev == NULL && strstr(err, "expected a string"), "a number: refused (leading zeros)");
    const char *nul =
        "{\"agency\":\"wm-police\",\"attendanceRecorded\":{\"staffNumber\":\"A\\u0000B\"}}";
    ev = intake_jsonl_with(nul, strlen(nul), 1, p, 0, err, sizeof err);
    ok(ev == NULL, "a NUL inside: refused");

    const char *mentor =
        "{\"agency\":\"wm-police\",\"mentorAssigned\":{\"mentorStaffNumber\":\"42\","
        "\"staffNumber\":\"0042\",\"programmeId\":\"sf\",\"cohortId\":\"c1\"}}";
    ev = intake_jsonl_with(mentor, strlen(mentor), 1, p, 0, err, sizeof err);
    if (!ok(ev != NULL, "mentorAssigned with both staff numbers"))
        diag("%s", err);
    if (ev) {
        is_str(ev->mentor_assigned->mentor_ref, REF_42, "mentorRef from mentorStaffNumber");
        is_str(ev->mentor_assigned->participant_ref, REF_0042, "participantRef from staffNumber");
        cohort__v1__event__free_unpacked(ev, NULL);
    }
    const char *foreign =
        "{\"agency\":\"wm-police\",\"mentorAssigned\":{\"mentorStaffNumber\":\"42\","
        "\"mentorAgency\":\"cps-wm\",\"staffNumber\":\"0042\",\"programmeId\":\"sf\","
        "\"cohortId\":\"c1\"}}";
    ev = intake_jsonl_with(foreign, strlen(foreign), 1, p, 0, err, sizeof err);
    if (!ok(ev == NULL && strstr(err, "mentorAgency names another agency") && !strstr(err, "42"),
            "mentorStaffNumber of another agency's mentor: refused (our key makes the wrong ref)"))
        diag("%s", err);
    const char *own =
        "{\"agency\":\"wm-police\",\"mentorAssigned\":{\"mentorStaffNumber\":\"42\","
        "\"mentorAgency\":\"wm-police\",\"staffNumber\":\"0042\",\"programmeId\":\"sf\","
        "\"cohortId\":\"c1\"}}";
    ev = intake_jsonl_with(own, strlen(own), 1, p, 0, err, sizeof err);
    if (!ok(ev != NULL && strcmp(ev->mentor_assigned->mentor_ref, REF_42) == 0 &&
                strcmp(ev->mentor_assigned->mentor_agency, "wm-police") == 0,
            "mentorStaffNumber with mentorAgency = the event's own agency: made a ref"))
        diag("%s", err);
    if (ev)
        cohort__v1__event__free_unpacked(ev, NULL);
    const char *nullsn = "{\"agency\":\"wm-police\",\"attendanceRecorded\":{\"staffNumber\":null,"
                         "\"participantRef\":\"p1:xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx2\"}}";
    ev = intake_jsonl_with(nullsn, strlen(nullsn), 1, NULL, 0, err, sizeof err);
    if (!ok(ev != NULL && strcmp(pref(ev), "p1:xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx2") == 0,
            "a null staffNumber counts as not given"))
        diag("%s", err);
    if (ev)
        cohort__v1__event__free_unpacked(ev, NULL);

    /* CSV */
    char path[512], path2[512];
    intake_file_t f;
    snprintf(path, sizeof path, "%s/attendance.csv", dir);
    FILE *fp = fopen(path, "w");
    fputs("agency,Staff Number,programmeId,cohortId,component,sessionId,sessionDate,status,"
          "minutes\n"
          "wm-police, wm-0042 ,sf,c1,coaching,s1,2009-05-01,present,120\n"
          "wm-police,42,sf,c1,coaching,s1,2009-05-01,present,120\n",
          fp);
    fclose(fp);
    if (!ok(intake_file_with(path, "attendance.csv", p, 0, &f, err, sizeof err) == 0, "CSV: read"))
        diag("%s", err);
    if (!ok(((int)f.nproblems) == 0, "CSV with a staffNumber column and a key: no problems"))
        diag("%s", f.problems);
    is_int((int)f.n, 2, "two events");
    if (f.n == 2) {
        ev = cohort__v1__event__unpack(NULL, f.items[0].len, f.items[0].data);
        e2 = cohort__v1__event__unpack(NULL, f.items[1].len, f.items[1].data);
        ok(ev && strcmp(pref(ev), REF_WM0042) == 0, "row 2: the ref of WM-0042");
        ok(e2 && strcmp(pref(e2), REF_42) == 0, "row 3: the ref of 42");
        ok(!has(f.items[0].data, f.items[0].len, "0042") &&
               !has(f.items[0].data, f.items[0].len, "wm-0") &&
               has(f.items[1].data, f.items[1].len, REF_42),
           "no staff number in the packed items, the refs instead");
        if (ev)
            cohort__v1__event__free_unpacked(ev, NULL);
        if (e2)
            cohort__v1__event__free_unpacked(e2, NULL);
    }
    intake_file_free(&f);
    is_int(intake_file_with(path, "attendance.csv", NULL, 0, &f, err, sizeof err), 0,
           "CSV without a key: read");
    is_int((int)f.nproblems, 2, "both rows are problems");
    if (!ok(f.problems &&
                strstr(f.problems, "row 2: attendanceRecorded.staffNumber: a staff number "
                                   "needs the agency's pseudonym key"),
            "saying the key is needed"))
        diag("%s", f.problems ? f.problems : "(none)");
    ok(f.problems && !strstr(f.problems, "0042"), "without the staff numbers");
    intake_file_free(&f);
    snprintf(path2, sizeof path2, "%s/both-attendance.csv", dir);
    fp = fopen(path2, "w");
    fputs("agency,staffNumber,participantRef,programmeId,cohortId,component,sessionId,"
          "sessionDate,status,minutes\n"
          "wm-police,1,x,sf,c1,coaching,s1,2009-05-01,present,120\n",
          fp);
    fclose(fp);
    intake_file_with(path2, "both-attendance.csv", p, 0, &f, err, sizeof err);
    if (!ok(f.nproblems == 1 && f.problems && strstr(f.problems, "staffNumber and participantRef"),
            "CSV with both columns: the file fails"))
        diag("%s", f.problems ? f.problems : "(none)");
    intake_file_free(&f);

    /* JSON Lines file */
    snprintf(path2, sizeof path2, "%s/x.jsonl", dir);
    fp = fopen(path2, "w");
    fprintf(fp, "%s\n", att);
    fclose(fp);
    is_int(intake_file_with(path2, "x.jsonl", p, 0, &f, err, sizeof err), 0, "JSONL file: read");
    ok(f.n == 1 && f.nproblems == 0 && !has(f.items[0].data, f.items[0].len, "0042") &&
           has(f.items[0].data, f.items[0].len, REF_WM0042),
       "JSONL file: the ref, not the staff number");
    intake_file_free(&f);

    /* issue 13: refs given as they are must be in the pseudonym form */
    ok(pseudonym_is_ref(REF_WM0042) && pseudonym_is_ref(REF_42),
       "the agent's refs are in the form");
    ok(!pseudonym_is_ref("JOHN.SMITH.0042") && !pseudonym_is_ref("p1:abc") &&
           !pseudonym_is_ref("p1:ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") &&
           !pseudonym_is_ref("p1:abcdefghijklmnopqrstuvwxyz234501"),
       "a name, a short ref, upper case and non-base32 digits are not");
    const char *raw = "{\"agency\":\"wm-police\",\"mentorAssigned\":{\"participantRef\":\"" REF_42
                      "\",\"mentorRef\":\"JOHN.SMITH.0042\",\"programmeId\":\"sf\","
                      "\"cohortId\":\"c1\"}}";
    ev = intake_jsonl_with(raw, strlen(raw), 1, p, 0, err, sizeof err);
    ok(ev == NULL && strstr(err, "mentorAssigned.mentorRef: not a pseudonym") &&
           strstr(err, "--raw-refs") && !strstr(err, "SMITH") && !strstr(err, "0042"),
       "a raw mentorRef is refused, with a key too, naming the field, not the value: %s", err);
    ev = intake_jsonl_with(raw, strlen(raw), 1, NULL, 1, err, sizeof err);
    ok(ev != NULL && strcmp(ev->mentor_assigned->mentor_ref, "JOHN.SMITH.0042") == 0,
       "... and sent as it is with raw_refs");
    if (ev)
        cohort__v1__event__free_unpacked(ev, NULL);
    snprintf(path2, sizeof path2, "%s/raw-attendance.csv", dir);
    fp = fopen(path2, "w");
    fputs("agency,participantRef,programmeId,cohortId,component,sessionId,sessionDate,status,"
          "minutes\n"
          "wm-police," REF_42 ",sf,c1,coaching,s1,2009-05-01,present,120\n"
          "wm-police,JOHN.SMITH.0042,sf,c1,coaching,s1,2009-05-01,present,120\n",
          fp);
    fclose(fp);
    intake_file_with(path2, "raw-attendance.csv", NULL, 0, &f, err, sizeof err);
    if (!ok(f.nproblems == 1 && f.problems &&
                strstr(f.problems, "row 3: attendanceRecorded.participantRef: not a pseudonym") &&
                !strstr(f.problems, "SMITH"),
            "CSV: the row with a raw ref is a problem (the file fails), the value not shown"))
        diag("%s", f.problems ? f.problems : "(none)");
    intake_file_free(&f);
    intake_file_with(path2, "raw-attendance.csv", NULL, 1, &f, err, sizeof err);
    ok(f.nproblems == 0 && f.n == 2, "CSV with raw_refs: both rows taken");
    intake_file_free(&f);
    pseudonym_destroy(&p);
    pseudonym_destroy(&q);
}

int main(void)
{
    char cmd[600];

    if (!mkdtemp(dir)) {
        printf("Bail out! mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    if (sodium_init() < 0) {
        printf("Bail out! sodium_init\n");
        return 1;
    }
    test_primitive();
    test_refs();
    test_key_files();
    test_intake();
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        diag("could not remove %s", dir);
    return tap_done();
}
