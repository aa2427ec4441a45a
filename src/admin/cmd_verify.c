/*
 * cmd_verify — `felhom-admin verify`: ssh-keygen -Y verify's interface
 * and meaning, answered by felhom's verifier.
 *
 *	felhom-admin verify -f ALLOWED_SIGNERS -I PRINCIPAL -n NAMESPACE
 *	    -s SIGFILE [-O OPTION]... < MESSAGE
 *
 * Exit 0 and "accepted KEYTYPE SHA256:FP PRINCIPAL" on stdout; exit 1
 * and "rejected: CODE: message" for a verdict against; otherwise the
 * shared statuses (base/exitcode.h): 64 usage, 66 a file that does not
 * exist, 74 I/O.  As in ssh-keygen, a bad allowed_signers line is
 * reported and skipped.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "admin/cmd.h"
#include "authz/codes.h"
#include "authz/signers.h"
#include "authz/sshsig.h"
#include "authz/verify.h"
#include "base/err.h"
#include "base/exitcode.h"

#define MESSAGE_MAX		(256L * 1024 * 1024)

static void
usage(FILE *f)
{
	fprintf(f, "usage: felhom-admin verify -f allowed_signers_file "
	    "-I principal -n namespace\n"
	    "           -s signature_file [-O option]... < message_file\n"
	    "\n"
	    "Verifies an SSHSIG signature as `ssh-keygen -Y verify` does, "
	    "with felhom's\nstricter rules (sshsig.md §9).  Options (-O):\n"
	    "  no-touch-required   security keys need not report user "
	    "presence\n"
	    "  verify-required     security keys must report user "
	    "verification (PIN)\n"
	    "  verify-time=T       check key validity at T "
	    "(YYYYMMDD[HHMM[SS]][Z]) instead of now\n"
	    "Exit: 0 accepted, 1 rejected, 64 usage, 66 no such file, 74 "
	    "I/O.\n");
}

static void
warn_line(void *ctx, const char *msg)
{
	(void) ctx;
	fprintf(stderr, "felhom-admin verify: %s\n", msg);
}

int
cmd_verify(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *file = NULL, *principal = NULL, *ns = NULL, *sigpath = NULL;
	struct signers *set = NULL;
	struct verify_result res;
	struct err err;
	char *sigtext = NULL, *msg = NULL;
	size_t siglen = 0, msglen = 0;
	unsigned policy = 0;
	int64_t now = (int64_t)time(NULL);
	int ch, rc, ret = EX_USAGE;

	verify_result_init(&res);
	err_init(&err);
	while ((ch = cmd_getopt(ctx, argc, argv, "f:I:n:s:O:h",
	    longopts)) != -1) {
		switch (ch) {
		case 'f':
			file = optarg;
			break;
		case 'I':
			principal = optarg;
			break;
		case 'n':
			ns = optarg;
			break;
		case 's':
			sigpath = optarg;
			break;
		case 'O':
			if (strcmp(optarg, "no-touch-required") == 0)
				policy |= SSHSIG_POLICY_NO_TOUCH_REQUIRED;
			else if (strcmp(optarg, "verify-required") == 0)
				policy |= SSHSIG_POLICY_VERIFY_REQUIRED;
			else if (strncmp(optarg, "verify-time=", 12) == 0) {
				if (signers_parse_time(optarg + 12, &now) !=
				    0) {
					fprintf(stderr, "felhom-admin verify: "
					    "invalid verify-time '%s'\n",
					    optarg + 12);
					goto out;
				}
			} else {
				fprintf(stderr, "felhom-admin verify: unknown "
				    "option -O %s\n", optarg);
				usage(stderr);
				goto out;
			}
			break;
		case 'h':
			usage(stdout);
			ret = 0;
			goto out;
		default:
			usage(stderr);
			goto out;
		}
	}
	if (optind != argc || file == NULL || principal == NULL ||
	    ns == NULL || sigpath == NULL || ns[0] == '\0') {
		usage(stderr);
		goto out;
	}
	if ((set = signers_new()) == NULL) {
		fprintf(stderr, "felhom-admin verify: out of memory\n");
		ret = EX_SOFTWARE;
		goto out;
	}
	if ((rc = signers_load_file(set, file, SIGNERS_ROLE_OPERATIONAL,
	    policy, SIGNERS_LENIENT, warn_line, NULL, &err)) != 0 ||
	    (rc = cmd_read_file(sigpath, SSHSIG_ARMOR_MAX + 1, &sigtext,
	    &siglen, &err)) != 0 ||
	    (rc = cmd_read_file("-", (size_t)MESSAGE_MAX, &msg, &msglen,
	    &err)) != 0) {
		fprintf(stderr, "felhom-admin verify: %s\n", err_msg(&err));
		ret = exitcode_of(rc);
		goto out;
	}
	rc = verify_signature(sigtext, siglen, msg, msglen, ns, principal,
	    now, set, &res, &err);
	if (rc == ERR_REJECTED) {
		printf("rejected: %s: %s\n", authz_code_name(res.code),
		    res.msg);
		ret = EXITCODE_NEGATIVE;
		goto out;
	}
	if (rc != 0) {
		fprintf(stderr, "felhom-admin verify: %s\n", err_msg(&err));
		ret = exitcode_of(rc);
		goto out;
	}
	printf("accepted %s %s %s\n", sshsig_keytype_name((int)res.keytype),
	    res.fingerprint, principal);
	ret = 0;
out:
	ret = cmd_done(ret);
	verify_result_reset(&res);
	signers_free(set);
	free(sigtext);
	free(msg);
	return ret;
}
