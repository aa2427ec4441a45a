/*
 * cmd_verify — `felhom-admin verify`: ssh-keygen -Y verify's interface
 * and meaning, answered by felhom's verifier.
 *
 *	felhom-admin verify -f ALLOWED_SIGNERS -I PRINCIPAL -n NAMESPACE
 *	    -s SIGFILE [-O OPTION]... < MESSAGE
 *
 * Exit 0 and "accepted KEYTYPE SHA256:FP PRINCIPAL" on stdout; exit 1
 * and "rejected: CODE: message" for a verdict against; exit 2 for a
 * usage or I/O error.  As in ssh-keygen, a bad allowed_signers line is
 * reported and skipped.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "admin/cmd_authz.h"
#include "authz/codes.h"
#include "authz/signers.h"
#include "authz/sshsig.h"
#include "authz/verify.h"
#include "base/err.h"

#define VERIFY_EXIT_OK		0
#define VERIFY_EXIT_REJECTED	1
#define VERIFY_EXIT_ERROR	2
#define MESSAGE_MAX		(256L * 1024 * 1024)

int
cmd_authz_read(const char *path, size_t cap, char **out, size_t *len_out,
    struct err *err)
{
	char *data = NULL, *nd;
	size_t len = 0, alloc = 0;
	ssize_t n;
	int fd = 0, rc;

	if (strcmp(path, "-") != 0 &&
	    (fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0)
		return err_set(err, errno == ENOENT ? ERR_NOT_FOUND : ERR_IO,
		    "%s: %s", path, strerror(errno));
	for (;;) {
		if (alloc - len < 65536) {
			alloc = alloc == 0 ? 65536 : alloc * 2;
			if (alloc > cap + 2)
				alloc = cap + 2;
			if ((nd = realloc(data, alloc)) == NULL) {
				rc = err_set(err, ERR_NOMEM, "%s: out of "
				    "memory", path);
				goto out;
			}
			data = nd;
		}
		n = read(fd, data + len, alloc - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = err_set(err, ERR_IO, "%s: %s", path,
			    strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > cap) {
			rc = err_set(err, ERR_TOO_LARGE, "%s: larger than %zu "
			    "bytes", path, cap);
			goto out;
		}
	}
	if (data == NULL && (data = malloc(1)) == NULL) {
		rc = err_set(err, ERR_NOMEM, "%s: out of memory", path);
		goto out;
	}
	data[len] = '\0';
	*out = data;
	*len_out = len;
	data = NULL;
	rc = 0;
out:
	if (fd > 0)
		(void) close(fd);
	free(data);
	return rc;
}

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
	    "Exit: 0 accepted, 1 rejected, 2 usage or I/O error.\n");
}

static void
warn_line(void *ctx, const char *msg)
{
	(void) ctx;
	fprintf(stderr, "felhom-admin verify: %s\n", msg);
}

int
cmd_verify(int argc, char **argv)
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
	int ch, rc, ret = VERIFY_EXIT_ERROR;

	verify_result_init(&res);
	err_init(&err);
	optind = 1;
	while ((ch = getopt_long(argc, argv, "f:I:n:s:O:h", longopts,
	    NULL)) != -1) {
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
			ret = VERIFY_EXIT_OK;
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
		goto out;
	}
	if ((rc = signers_load_file(set, file, SIGNERS_ROLE_OPERATIONAL,
	    policy, SIGNERS_LENIENT, warn_line, NULL, &err)) != 0 ||
	    (rc = cmd_authz_read(sigpath, SSHSIG_ARMOR_MAX + 1, &sigtext,
	    &siglen, &err)) != 0 ||
	    (rc = cmd_authz_read("-", (size_t)MESSAGE_MAX, &msg, &msglen,
	    &err)) != 0) {
		fprintf(stderr, "felhom-admin verify: %s\n", err_msg(&err));
		goto out;
	}
	rc = verify_signature(sigtext, siglen, msg, msglen, ns, principal,
	    now, set, &res, &err);
	if (rc == ERR_REJECTED) {
		printf("rejected: %s: %s\n", authz_code_name(res.code),
		    res.msg);
		ret = VERIFY_EXIT_REJECTED;
		goto out;
	}
	if (rc != 0) {
		fprintf(stderr, "felhom-admin verify: %s\n", err_msg(&err));
		goto out;
	}
	printf("accepted %s %s %s\n", sshsig_keytype_name((int)res.keytype),
	    res.fingerprint, principal);
	ret = VERIFY_EXIT_OK;
out:
	if (fflush(stdout) != 0 && ret == VERIFY_EXIT_OK)
		ret = VERIFY_EXIT_ERROR;
	verify_result_reset(&res);
	signers_free(set);
	free(sigtext);
	free(msg);
	return ret;
}
