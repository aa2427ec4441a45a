/*
 * fuzz_sshsig — libFuzzer target for the armor and SSHSIG parsers and
 * the verifier behind them (R-10; sshsig.md §2, §3, §6).  The input is
 * tried as an armored signature and as a raw blob; whatever parses is
 * verified against a pinned key of each family, so the signature
 * parsers (Ed25519, ECDSA (r, s), RSA, sk flags) are reached too.
 *
 * Invariant: nothing verifies.  The pinned keys' private halves are not
 * in the repository and no vector signs the message below, so an
 * accepted signature would be a forgery; a refusal says why.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "authz/signers.h"
#include "authz/sshsig.h"
#include "authz/verify.h"
#include "base/err.h"
#include "fuzz.h"

/* Keys of the vector corpus (tests/fixtures/sshsig/keys). */
static const char *const pinned[] = {
	"a ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEwBFZlCOkpdBaATgzuGQcyUr5CYa"
	"FTU0iw0WXMLHA9U",
	"a ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNT"
	"YAAABBBLYRvPrkxA4BYZw1pK/1pidhbPlgzI0PmQDHCRlEPEyC1geMolw7fVPydJ1GGu"
	"EtW2jfep3MB+QvPGGQYhuefrY=",
	"a sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29t"
	"AAAAIETRGnUkBBDHDtenbxfOFkLbAo2ZsEZzV+DO5C0xnZ5iAAAABHNzaDo=",
};

static struct signers *set;

static void
init(void)
{
	struct signers_entry *e;
	size_t i;

	if (set != NULL || (set = signers_new()) == NULL)
		return;
	for (i = 0; i < sizeof(pinned) / sizeof(pinned[0]); i++) {
		e = NULL;
		if (signers_parse_line(pinned[i], strlen(pinned[i]), "fuzz",
		    i + 1, SIGNERS_ROLE_OPERATIONAL, 0, &e, NULL) == 0 &&
		    e != NULL)
			(void) signers_add(set, e, NULL);
	}
}

int
fuzz_sshsig(const uint8_t *data, size_t size)
{
	static const char msg[] = "felhom fuzz message\n";
	struct verify_result res;
	struct sshsig *sig = NULL;
	struct err err;
	size_t i;
	int rc;

	init();
	/* Every pinned key loaded, or the target would test nothing. */
	FUZZ_ASSERT(set != NULL &&
	    signers_count(set) == sizeof(pinned) / sizeof(pinned[0]));
	verify_result_init(&res);
	err_init(&err);
	rc = verify_signature((const char *)data, size, msg, sizeof(msg) - 1,
	    "felhom-op-v1", NULL, 1800000000, set, &res, &err);
	FUZZ_ASSERT(rc != 0 && err.code == rc && rc != ERR_NOMEM);
	verify_result_reset(&res);
	err_init(&err);
	if (sshsig_parse_blob(data, size, &sig, &err) == 0) {
		for (i = 0; i < signers_count(set); i++) {
			err_init(&err);
			rc = sshsig_verify(sig, signers_get(set, i)->key,
			    "felhom-op-v1", msg, sizeof(msg) - 1, 0, NULL,
			    &err);
			FUZZ_ASSERT(rc != 0 && err.code == rc);
		}
		sshsig_free(sig);
	}
	return 0;
}
