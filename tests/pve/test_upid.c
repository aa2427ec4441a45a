/*
 * test_upid — the UPID grammar of pve-api.md §4: PVE's own
 * examples parse, every malformed variant is refused, and a randomized
 * loop over mutated UPIDs never accepts what the reference regex would
 * refuse (the reference is a small independent matcher below).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <check.h>

#include "base/err.h"
#include "pve/upid.h"

struct good {
	const char	*s;
	const char	*node;
	uint32_t	 pid;
	uint64_t	 pstart;
	uint32_t	 starttime;
	const char	*type, *id, *user;
};

/* pve-api.md §4 "Real examples" and the fixtures. */
static const struct good goods[] = {
	{ "UPID:dahu-2:00007323:001036A5:6419CAF8:qmstart:100:root@pam:",
	    "dahu-2", 0x7323, 0x1036A5, 0x6419CAF8, "qmstart", "100",
	    "root@pam" },
	{ "UPID:x:000039C6:1FE23176:619510B1:qmconfig:113:terraform-prov@pve:",
	    "x", 0x39C6, 0x1FE23176, 0x619510B1, "qmconfig", "113",
	    "terraform-prov@pve" },
	{ "UPID:iaclab-01-01:00000DD3:1C419D88:6119FB65:srvreload:networking:"
	    "root@pam:", "iaclab-01-01", 0xDD3, 0x1C419D88, 0x6119FB65,
	    "srvreload", "networking", "root@pam" },
	{ "UPID:example-node:0000C346:165A0CE4:68D7279C:aptupdate::root@pam:",
	    "example-node", 0xC346, 0x165A0CE4, 0x68D7279C, "aptupdate", "",
	    "root@pam" },
	{ "UPID:example-node:000934AF:0D015579:68BF3A41:vzdump:100:"
	    "91a1da29-a47d-11f0-84e0-fafbfc944d00@pam!some-token:",
	    "example-node", 0x934AF, 0x0D015579, 0x68BF3A41, "vzdump", "100",
	    "91a1da29-a47d-11f0-84e0-fafbfc944d00@pam!some-token" },
	{ "UPID:example-node:000934AF:FFFFFFFFF:68BF3A41:fake-but-valid-type:"
	    "100:root@pam:", "example-node", 0x934AF, 0xFFFFFFFFFULL,
	    0x68BF3A41, "fake-but-valid-type", "100", "root@pam" },
	{ "UPID:pve:0001E71C:0A12ECB0:68BF3CD5:vzdump::agent@pve!reconciler:",
	    "pve", 0x1E71C, 0x0A12ECB0, 0x68BF3CD5, "vzdump", "",
	    "agent@pve!reconciler" },
	{ "UPID:a:0000abcd:0000abcd:0000abcd:t:i:u:", "a", 0xabcd, 0xabcd,
	    0xabcd, "t", "i", "u" },
};

START_TEST(valid_upids_parse_field_by_field)
{
	const struct good *g = &goods[_i];
	struct upid u;
	struct err err;
	char back[UPID_MAX + 1];

	err_init(&err);
	ck_assert_msg(upid_parse_str(g->s, &u, &err) == 0, "%s: %s", g->s,
	    err.msg);
	ck_assert_str_eq(u.node, g->node);
	ck_assert_uint_eq(u.pid, g->pid);
	ck_assert_uint_eq(u.pstart, g->pstart);
	ck_assert_uint_eq(u.starttime, g->starttime);
	ck_assert_str_eq(u.type, g->type);
	ck_assert_str_eq(u.id, g->id);
	ck_assert_str_eq(u.user, g->user);
	ck_assert(upid_valid(g->s));
	ck_assert_int_gt(upid_format(&u, back, sizeof(back)), 0);
	ck_assert_int_eq(strcasecmp(back, g->s), 0);
}
END_TEST

static const char *const bads[] = {
	"",
	"UPID",
	"UPID:",
	"upid:pve:0001E240:0A12BC40:68BF3A41:vzstart:101:root@pam:",
	/* no trailing colon */
	"UPID:pve:0001E240:0A12BC40:68BF3A41:vzstart:101:root@pam",
	"UPID:pve:0001E240:0A12BC40:68BF3A41:vzstart:101:root@pam::",
	"UPID:pve:0001E240:0A12BC40:68BF3A41:vzstart:101:root@pam:x",
	"UPID:pve:0001E240:0A12BC40:68BF3A41:vzstart:101:root@pam: ",
	"UPID::0001E240:0A12BC40:68BF3A41:vzstart:101:root@pam:",
	"UPID:-pve:0001E240:0A12BC40:68BF3A41:vzstart:101:root@pam:",
	"UPID:pve-:0001E240:0A12BC40:68BF3A41:vzstart:101:root@pam:",
	"UPID:pve.lan:0001E240:0A12BC40:68BF3A41:vzstart:101:root@pam:",
	"UPID:pve:001E240:0A12BC40:68BF3A41:vzstart:101:root@pam:",
	"UPID:pve:00001E240:0A12BC40:68BF3A41:vzstart:101:root@pam:",
	"UPID:pve:0001E24G:0A12BC40:68BF3A41:vzstart:101:root@pam:",
	"UPID:pve:0001E240:A12BC40:68BF3A41:vzstart:101:root@pam:",
	"UPID:pve:0001E240:00A12BC400:68BF3A41:vzstart:101:root@pam:",
	"UPID:pve:0001E240:0A12BC40:8BF3A41:vzstart:101:root@pam:",
	"UPID:pve:0001E240:0A12BC40:068BF3A41:vzstart:101:root@pam:",
	"UPID:pve:0001E240:0A12BC40:68BF3A41::101:root@pam:",
	"UPID:pve:0001E240:0A12BC40:68BF3A41:vz start:101:root@pam:",
	"UPID:pve:0001E240:0A12BC40:68BF3A41:vz/start:101:root@pam:",
	"UPID:pve:0001E240:0A12BC40:68BF3A41:vzstart:1 01:root@pam:",
	"UPID:pve:0001E240:0A12BC40:68BF3A41:vzstart:1/01:root@pam:",
	"UPID:pve:0001E240:0A12BC40:68BF3A41:vzstart:101::",
	"UPID:pve:0001E240:0A12BC40:68BF3A41:vzstart:101:ro\tot@pam:",
	"UPID:pve:0001E240:0A12BC40:68BF3A41:vzstart:101:",
	"UPID:pve:0001E240:0A12BC40:68BF3A41:vzstart:",
	"UPID:pve:0001E240:0A12BC40:68BF3A41:",
	"UPID:pve:0001E240:0A12BC40:",
	"UPID:pve:0001E240:",
	/* PBS layout: an extra task-counter field. */
	("UPID:pbs:000004A2:00003F11:0000000A:68BFB0E0:verificationjob:"
	    "store1\\x3av\\x2dabc:root@pam:"),
	"UPID:pve:+001E240:0A12BC40:68BF3A41:vzstart:101:root@pam:",
	"UPID:pve:0x1E2400:0A12BC40:68BF3A41:vzstart:101:root@pam:",
};

START_TEST(malformed_upids_are_refused)
{
	struct upid u;
	struct err err;

	err_init(&err);
	memset(&u, 0x5a, sizeof(u));
	ck_assert_msg(upid_parse_str(bads[_i], &u, &err) != 0,
	    "accepted '%s'", bads[_i]);
	ck_assert_ptr_nonnull(strstr(err.msg, "upid"));
	ck_assert(!upid_valid(bads[_i]));
	/* *out untouched on failure. */
	ck_assert_uint_eq((unsigned char)u.node[0], 0x5a);
}
END_TEST

START_TEST(embedded_nul_and_oversize_are_refused)
{
	static const char s[] = "UPID:pve:0001E240:0A12BC40:68BF3A41:vz\0x:1:"
	    "u@pam:";
	char big[UPID_MAX + 64];
	struct upid u;
	struct err err;

	err_init(&err);
	ck_assert_int_eq(upid_parse(s, sizeof(s) - 1, &u, &err), ERR_FORMAT);
	memset(big, 'a', sizeof(big));
	memcpy(big, "UPID:pve:0001E240:0A12BC40:68BF3A41:t:", 38);
	big[sizeof(big) - 2] = ':';
	big[sizeof(big) - 1] = '\0';
	err_init(&err);
	ck_assert_int_eq(upid_parse_str(big, &u, &err), ERR_TOO_LARGE);
	ck_assert_int_eq(upid_parse(NULL, 0, &u, &err), ERR_FORMAT);
}
END_TEST

START_TEST(token_user_matches_exactly)
{
	struct upid u;

	ck_assert_int_eq(upid_parse_str(goods[6].s, &u, NULL), 0);
	ck_assert(upid_is_token(&u, "agent@pve!reconciler"));
	ck_assert(!upid_is_token(&u, "agent@pve!reconcile"));
	ck_assert(!upid_is_token(&u, "agent@pve"));
	ck_assert(!upid_is_token(&u, NULL));
}
END_TEST

/* ---- randomized: an independent matcher as the oracle ---------------- */

static int
hexrun(const char *s, size_t a, size_t b, size_t minw, size_t maxw)
{
	size_t i;

	if (b - a < minw || b - a > maxw)
		return 0;
	for (i = a; i < b; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f') ||
		    (s[i] >= 'A' && s[i] <= 'F')))
			return 0;
	return 1;
}

static int
freefield(const char *s, size_t a, size_t b, int may_be_empty)
{
	size_t i;

	if (a == b)
		return may_be_empty;
	for (i = a; i < b; i++)
		if (strchr(":/ \t\n\v\f\r", s[i]) != NULL || s[i] == '\0')
			return 0;
	return 1;
}

/* Splits on ':' and checks the regex of UPID.pm field by field. */
static int
oracle(const char *s, size_t len)
{
	size_t pos[16], n = 0, i;

	for (i = 0; i < len; i++)
		if (s[i] == ':') {
			if (n == 16)
				return 0;
			pos[n++] = i;
		}
	if (n != 8 || pos[7] != len - 1 || pos[0] != 4 ||
	    memcmp(s, "UPID", 4) != 0)
		return 0;
	if (pos[1] - pos[0] - 1 == 0)
		return 0;
	for (i = pos[0] + 1; i < pos[1]; i++) {
		char ch = s[i];
		int alnum = (ch >= '0' && ch <= '9') ||
		    (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');

		if (!alnum && !(ch == '-' && i > pos[0] + 1 && i + 1 < pos[1]))
			return 0;
	}
	return hexrun(s, pos[1] + 1, pos[2], 8, 8) &&
	    hexrun(s, pos[2] + 1, pos[3], 8, 9) &&
	    hexrun(s, pos[3] + 1, pos[4], 8, 8) &&
	    freefield(s, pos[4] + 1, pos[5], 0) &&
	    freefield(s, pos[5] + 1, pos[6], 1) &&
	    freefield(s, pos[6] + 1, pos[7], 0);
}

static char
pick(unsigned *seed, const char *alphabet, size_t n)
{
	return alphabet[(size_t)rand_r(seed) % n];
}

START_TEST(randomized_mutations_agree_with_the_oracle)
{
	static const char alphabet[] = "UPID:0123456789abcdefABCDEFG-!@ /\t.x";
	char buf[200];
	struct upid u;
	unsigned seed = 12345;
	size_t len, k, j;
	int i, accepted = 0;

	for (i = 0; i < 200000; i++) {
		const char *base = goods[(size_t)rand_r(&seed) %
		    (sizeof(goods) / sizeof(goods[0]))].s;

		len = strlen(base);
		memcpy(buf, base, len);
		for (k = (size_t)rand_r(&seed) % 4; k > 0; k--) {
			j = (size_t)rand_r(&seed) % (len + 1);
			switch (rand_r(&seed) % 3) {
			case 0:		/* replace */
				if (j < len)
					buf[j] = pick(&seed, alphabet,
					    sizeof(alphabet) - 1);
				break;
			case 1:		/* delete */
				if (j < len) {
					memmove(buf + j, buf + j + 1,
					    len - j - 1);
					len--;
				}
				break;
			default:	/* insert */
				if (len + 1 < sizeof(buf)) {
					memmove(buf + j + 1, buf + j, len - j);
					buf[j] = pick(&seed, alphabet,
					    sizeof(alphabet) - 1);
					len++;
				}
				break;
			}
		}
		ck_assert_msg((upid_parse(buf, len, &u, NULL) == 0) ==
		    oracle(buf, len), "disagree on '%.*s'", (int)len, buf);
		accepted += oracle(buf, len);
	}
	ck_assert_int_gt(accepted, 1000);
}
END_TEST

static Suite *
upid_suite(void)
{
	Suite *s = suite_create("upid");
	TCase *tc = tcase_create("grammar");

	tcase_add_loop_test(tc, valid_upids_parse_field_by_field, 0,
	    (int)(sizeof(goods) / sizeof(goods[0])));
	tcase_add_loop_test(tc, malformed_upids_are_refused, 0,
	    (int)(sizeof(bads) / sizeof(bads[0])));
	tcase_add_test(tc, embedded_nul_and_oversize_are_refused);
	tcase_add_test(tc, token_user_matches_exactly);
	tcase_add_test(tc, randomized_mutations_agree_with_the_oracle);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(upid_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
