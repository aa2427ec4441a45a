/*
 * codes — names of the signature pipeline's verdicts.
 */
#include <string.h>

#include "authz/codes.h"

static const char *const authz_code_names[AUTHZ__COUNT] = {
	[AUTHZ_ACCEPTED] = "accepted",
	[AUTHZ_BAD_ARMOR] = "bad_armor",
	[AUTHZ_BAD_SSHSIG] = "bad_sshsig",
	[AUTHZ_UNSUPPORTED_KEY_TYPE] = "unsupported_key_type",
	[AUTHZ_BAD_HASH_ALG] = "bad_hash_alg",
	[AUTHZ_BAD_NAMESPACE] = "bad_namespace",
	[AUTHZ_UNKNOWN_SIGNER] = "unknown_signer",
	[AUTHZ_BAD_SIGNATURE] = "bad_signature",
	[AUTHZ_USER_PRESENCE_REQUIRED] = "user_presence_required",
	[AUTHZ_BAD_BLOB] = "bad_blob",
	[AUTHZ_WRONG_HOST] = "wrong_host",
	[AUTHZ_WRONG_GUEST] = "wrong_guest",
	[AUTHZ_NOT_YET_VALID] = "not_yet_valid",
	[AUTHZ_EXPIRED] = "expired",
	[AUTHZ_WINDOW_TOO_LONG] = "window_too_long",
	[AUTHZ_ROLE_DENIED] = "role_denied",
	[AUTHZ_BINDING_MISMATCH] = "binding_mismatch",
	[AUTHZ_REPLAY] = "replay",
	[AUTHZ_REPLAY_FLOOR] = "replay_floor",
};
_Static_assert(sizeof(authz_code_names) / sizeof(authz_code_names[0]) ==
    AUTHZ__COUNT, "authz_code_names must name every code");

const char *
authz_code_name(int code)
{
	if (code < 0 || code >= AUTHZ__COUNT)
		return "unknown";
	return authz_code_names[code];
}

int
authz_code_from_name(const char *s)
{
	int i;

	if (s == NULL)
		return -1;
	for (i = 0; i < AUTHZ__COUNT; i++)
		if (strcmp(authz_code_names[i], s) == 0)
			return i;
	return -1;
}
