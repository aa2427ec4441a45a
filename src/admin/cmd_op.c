/*
 * cmd_op — `felhom-admin op new` composes an op blob to sign;
 * `felhom-admin op check` dry-runs the verification pipeline on a blob
 * and its signature, read-only.
 *
 *	felhom-admin op new --op OP --host HOST [--guest VMID]
 *	    [--param KEY=VALUE]... [--params-json JSON] [--ttl DURATION]
 *	    [--not-before TIME]
 *	felhom-admin op check --signature SIG --blob FILE [--at TIME]
 *	    [--signers-operational FILE --signers-recovery FILE]
 *	    [--host HOST]
 *
 * `op new` writes the blob's bytes and nothing else: no trailing
 * newline, so `> op.json` holds exactly what `ssh-keygen -Y sign -n
 * felhom-op-v1` will sign.  It refuses what the verifier would: a
 * window longer than authz.max_window_s (the configuration's when there
 * is one), a guest op without --guest, rotate_signers with one.
 * Exit 0, 64 usage, 70 internal.
 * `op check` prints one line per stage and exits 0 accepted, 1
 * rejected, else the shared statuses (64 usage, 66 no such file, ...).
 * It never writes a nonce.  --config and --db are the global options.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include <jansson.h>

#include "admin/cmd.h"
#include "authz/codes.h"
#include "authz/opblob.h"
#include "authz/signers.h"
#include "authz/sshsig.h"
#include "authz/verify.h"
#include "base/clock.h"
#include "base/config.h"
#include "base/err.h"
#include "base/exitcode.h"
#include "store/db.h"
#include "store/dbstate.h"
#include "store/nonces.h"
#include "store/signers_db.h"

#define DEFAULT_TTL_S		3600
#define BLOB_READ_MAX		(1024 * 1024)

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: felhom-admin op new --op OP --host HOST [--guest VMID]\n"
	    "           [--param KEY=VALUE]... [--params-json JSON] "
	    "[--ttl DURATION]\n"
	    "           [--not-before TIME]\n"
	    "       felhom-admin op check --signature SIG --blob FILE "
	    "[--at TIME]\n"
	    "           [--signers-operational FILE --signers-recovery "
	    "FILE] [--host HOST]\n"
	    "\n"
	    "op new prints an op blob v1 with a fresh nonce, valid from now "
	    "(or --not-before)\nfor --ttl (default 1h; s, m, h, d "
	    "suffixes).  The output has no trailing\nnewline: it is exactly "
	    "the bytes to sign with\n"
	    "  ssh-keygen -Y sign -n felhom-op-v1 -f KEY op.json\n"
	    "--param values are JSON when they parse as JSON (true, 3, "
	    "[\"a\"], {\"a\":1}),\nelse strings; a dotted key nests "
	    "(set.cores=2).  --params-json gives the\nwhole params object; "
	    "--param entries are merged into it.  A window longer\nthan "
	    "authz.max_window_s, a guest op without --guest and "
	    "rotate_signers with\none are refused, as the verifier would.\n"
	    "\n"
	    "op check runs the verification pipeline read-only and prints "
	    "each stage.\nSigners come from the files given, else the "
	    "database's signers table, else\nthe files named by the "
	    "configuration.  TIME is YYYY-MM-DDTHH:MM:SSZ.\n"
	    "Exit: 0 accepted, 1 rejected, 64 usage, 66 no such file.\n");
}

/* "90", "90s", "15m", "1h", "2d" → seconds (> 0). */
static int
parse_duration(const char *s, int64_t *out)
{
	char *end;
	long long v;
	int64_t mul = 1;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || v <= 0)
		return ERR_INVALID;
	if (*end != '\0') {
		if (end[1] != '\0')
			return ERR_INVALID;
		switch (*end) {
		case 's':
			break;
		case 'm':
			mul = 60;
			break;
		case 'h':
			mul = 3600;
			break;
		case 'd':
			mul = 86400;
			break;
		default:
			return ERR_INVALID;
		}
	}
	if (v > INT64_MAX / mul / 4)
		return ERR_INVALID;
	*out = (int64_t)v * mul;
	return 0;
}

/* Sets params[a][b]...= value for a dotted key (value reference stolen). */
static int
param_set(json_t *params, const char *key, json_t *value, struct err *err)
{
	char *k = NULL, *p, *dot;
	json_t *obj = params, *child;
	int rc;

	if ((k = strdup(key)) == NULL) {
		json_decref(value);
		return err_set(err, ERR_NOMEM, "out of memory");
	}
	for (p = k; (dot = strchr(p, '.')) != NULL; p = dot + 1) {
		*dot = '\0';
		if (*p == '\0') {
			rc = err_set(err, ERR_INVALID, "--param %s: empty key "
			    "part", key);
			goto out;
		}
		child = json_object_get(obj, p);
		if (child == NULL) {
			if ((child = json_object()) == NULL ||
			    json_object_set_new(obj, p, child) != 0) {
				rc = err_set(err, ERR_NOMEM, "out of memory");
				goto out;
			}
		} else if (!json_is_object(child)) {
			rc = err_set(err, ERR_INVALID, "--param %s: '%s' is "
			    "not an object", key, p);
			goto out;
		}
		obj = child;
	}
	if (*p == '\0') {
		rc = err_set(err, ERR_INVALID, "--param %s: empty key", key);
		goto out;
	}
	if (json_object_set_new(obj, p, value) != 0) {
		value = NULL;
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	value = NULL;
	rc = 0;
out:
	json_decref(value);
	free(k);
	return rc;
}

static int
param_add(json_t *params, const char *arg, struct err *err)
{
	const char *eq = strchr(arg, '=');
	char *key;
	json_t *v;
	int rc;

	if (eq == NULL || eq == arg)
		return err_set(err, ERR_INVALID, "--param '%s': expected "
		    "KEY=VALUE", arg);
	/* JSON-typed when the value parses as JSON, else a string. */
	if ((v = json_loads(eq + 1, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES,
	    NULL)) == NULL && (v = json_string(eq + 1)) == NULL)
		return err_set(err, ERR_INVALID, "--param '%s': value is not "
		    "valid UTF-8", arg);
	if ((key = strndup(arg, (size_t)(eq - arg))) == NULL) {
		json_decref(v);
		return err_set(err, ERR_NOMEM, "out of memory");
	}
	rc = param_set(params, key, v, err);
	free(key);
	return rc;
}

static int
op_new(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "op", required_argument, NULL, 'o' },
		{ "host", required_argument, NULL, 'H' },
		{ "guest", required_argument, NULL, 'g' },
		{ "param", required_argument, NULL, 'p' },
		{ "params-json", required_argument, NULL, 'P' },
		{ "ttl", required_argument, NULL, 't' },
		{ "not-before", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct opblob_spec spec;
	const struct config *cfg = NULL;
	struct err err;
	json_t *params = NULL, *pj;
	json_error_t jerr;
	char *blob = NULL, *end;
	const char *opname = NULL;
	size_t len = 0;
	int64_t ttl = DEFAULT_TTL_S, max_window = VERIFY_DEFAULT_MAX_WINDOW_S;
	long long g;
	int ch, rc, ret = EX_USAGE, have_nb = 0;

	err_init(&err);
	memset(&spec, 0, sizeof(spec));
	if ((params = json_object()) == NULL) {
		fprintf(stderr, "felhom-admin op new: out of memory\n");
		return EX_SOFTWARE;
	}
	while ((ch = cmd_getopt(ctx, argc, argv, "h", longopts)) != -1) {
		switch (ch) {
		case 'o':
			opname = optarg;
			break;
		case 'H':
			spec.host_id = optarg;
			break;
		case 'g':
			errno = 0;
			g = strtoll(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || end == optarg ||
			    g < OPBLOB_GUEST_MIN || g > OPBLOB_GUEST_MAX) {
				fprintf(stderr, "felhom-admin op new: --guest "
				    "'%s' must be a vmid (%d-%d)\n", optarg,
				    OPBLOB_GUEST_MIN, OPBLOB_GUEST_MAX);
				goto out;
			}
			spec.has_guest = 1;
			spec.guest_id = g;
			break;
		case 'p':
			if (param_add(params, optarg, &err) != 0) {
				fprintf(stderr, "felhom-admin op new: %s\n",
				    err_msg(&err));
				ret = err.code == ERR_NOMEM ? EX_SOFTWARE :
				    EX_USAGE;
				goto out;
			}
			break;
		case 'P':
			pj = json_loads(optarg, JSON_REJECT_DUPLICATES, &jerr);
			if (!json_is_object(pj) ||
			    json_object_update(pj, params) != 0) {
				fprintf(stderr, "felhom-admin op new: "
				    "--params-json: %s\n", pj == NULL ?
				    jerr.text : "expected a JSON object");
				json_decref(pj);
				goto out;
			}
			json_decref(params);
			params = pj;
			break;
		case 't':
			if (parse_duration(optarg, &ttl) != 0) {
				fprintf(stderr, "felhom-admin op new: --ttl "
				    "'%s': expected seconds or N[smhd]\n",
				    optarg);
				goto out;
			}
			break;
		case 'b':
			if (clock_parse_rfc3339(optarg, &spec.not_before) !=
			    0) {
				fprintf(stderr, "felhom-admin op new: "
				    "--not-before '%s': expected "
				    "YYYY-MM-DDTHH:MM:SSZ\n", optarg);
				goto out;
			}
			have_nb = 1;
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
	if (optind != argc || opname == NULL || spec.host_id == NULL) {
		usage(stderr);
		goto out;
	}
	if ((spec.op = opblob_kind_from_name(opname)) == OPBLOB_OP_UNKNOWN) {
		fprintf(stderr, "felhom-admin op new: unknown op '%s'\n",
		    opname);
		goto out;
	}
	/* What the verifier refuses is never composed. */
	if (spec.op != OPBLOB_OP_ROTATE_SIGNERS && !spec.has_guest) {
		fprintf(stderr, "felhom-admin op new: %s needs --guest VMID\n",
		    opname);
		goto out;
	}
	if (spec.op == OPBLOB_OP_ROTATE_SIGNERS && spec.has_guest) {
		fprintf(stderr, "felhom-admin op new: rotate_signers is "
		    "host-scoped: no --guest\n");
		goto out;
	}
	if ((rc = cmd_config(ctx, 1, &cfg)) != 0) {
		ret = rc;
		goto out;
	}
	if (cfg != NULL)
		max_window = cfg->authz_max_window_s;
	if (ttl > max_window) {
		fprintf(stderr, "felhom-admin op new: --ttl %" PRId64 "s is "
		    "longer than the longest window the agent accepts "
		    "(authz.max_window_s = %" PRId64 "s)\n", ttl, max_window);
		goto out;
	}
	if (!have_nb)
		spec.not_before = (int64_t)time(NULL);
	spec.not_after = spec.not_before + ttl;
	spec.params = params;
	if ((rc = opblob_make(&spec, &blob, &len, &err)) != 0) {
		fprintf(stderr, "felhom-admin op new: %s\n", err_msg(&err));
		ret = rc == ERR_INVALID || rc == ERR_REJECTED ? EX_USAGE :
		    exitcode_of(rc);
		goto out;
	}
	if (fwrite(blob, 1, len, stdout) != len || fflush(stdout) != 0) {
		fprintf(stderr, "felhom-admin op new: write: %s\n",
		    strerror(errno));
		ret = EX_IOERR;
		goto out;
	}
	ret = 0;
out:
	free(blob);
	json_decref(params);
	return ret;
}

static void
warn_line(void *ctx, const char *msg)
{
	(void) ctx;
	fprintf(stderr, "felhom-admin op check: warning: %s\n", msg);
}

struct check_opts {
	const char	*sig;
	const char	*blob;
	const char	*config;
	const char	*ops_file;
	const char	*rec_file;
	const char	*host;
	const char	*db;
	int64_t		 at;
	int		 have_at;
};

/*
 * The signer set: explicit files, else the database's table when it has
 * rows, else the configured files.  *from gets a description.
 */
static int
load_signers(const struct check_opts *o, const struct config *cfg,
    struct db *db, struct signers *set, const char **from, struct err *err)
{
	const char *opf = o->ops_file, *rcf = o->rec_file;
	int64_t n = 0;
	int rc;

	if (opf == NULL && rcf == NULL && db != NULL &&
	    signers_db_count(db, NULL, &n, NULL) == 0 && n > 0) {
		*from = "database";
		return signers_load_db(set, db, err);
	}
	if (opf == NULL && rcf == NULL && cfg != NULL) {
		opf = cfg->authz_operational;
		rcf = cfg->authz_recovery;
	}
	if (opf == NULL && rcf == NULL)
		return err_set(err, ERR_INVALID, "no signers: give "
		    "--signers-operational/--signers-recovery or --config");
	*from = "files";
	if (opf != NULL && (rc = signers_load_file(set, opf,
	    SIGNERS_ROLE_OPERATIONAL, 0, 0, warn_line, NULL, err)) != 0)
		return rc;
	if (rcf != NULL && (rc = signers_load_file(set, rcf,
	    SIGNERS_ROLE_RECOVERY, 0, 0, warn_line, NULL, err)) != 0)
		return rc;
	return 0;
}

static int
op_check(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "signature", required_argument, NULL, 's' },
		{ "blob", required_argument, NULL, 'b' },
		{ "at", required_argument, NULL, 'a' },
		{ "signers-operational", required_argument, NULL, 'O' },
		{ "signers-recovery", required_argument, NULL, 'R' },
		{ "host", required_argument, NULL, 'H' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct check_opts o;
	struct config *cfg = NULL;
	struct signers *set = NULL;
	struct db *db = NULL;
	struct verify_config vc = { VERIFY_DEFAULT_SKEW_S,
	    VERIFY_DEFAULT_MAX_WINDOW_S };
	struct verify_input in;
	struct verify_result res;
	struct err err, dberr;
	const char *from = NULL, *dbpath = NULL;
	char *sig = NULL, *blob = NULL, t[CLOCK_RFC3339_LEN];
	size_t siglen = 0, bloblen = 0;
	int ch, rc, i, exists = 0, ret = EX_USAGE;

	memset(&o, 0, sizeof(o));
	err_init(&err);
	err_init(&dberr);
	verify_result_init(&res);
	while ((ch = cmd_getopt(ctx, argc, argv, "h", longopts)) != -1) {
		switch (ch) {
		case 's':
			o.sig = optarg;
			break;
		case 'b':
			o.blob = optarg;
			break;
		case 'a':
			if (clock_parse_rfc3339(optarg, &o.at) != 0) {
				fprintf(stderr, "felhom-admin op check: --at "
				    "'%s': expected YYYY-MM-DDTHH:MM:SSZ\n",
				    optarg);
				goto out;
			}
			o.have_at = 1;
			break;
		case 'O':
			o.ops_file = optarg;
			break;
		case 'R':
			o.rec_file = optarg;
			break;
		case 'H':
			o.host = optarg;
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
	if (optind != argc || o.sig == NULL || o.blob == NULL) {
		usage(stderr);
		goto out;
	}
	o.config = ctx->config_path;
	o.db = ctx->db_path;
	if (o.config != NULL && (rc = config_load(o.config, NULL, &cfg,
	    &err)) != 0) {
		fprintf(stderr, "felhom-admin op check: %s\n", err_msg(&err));
		ret = exitcode_of(rc);
		goto out;
	}
	if (cfg != NULL) {
		vc.clock_skew_s = cfg->authz_clock_skew_s;
		vc.max_window_s = cfg->authz_max_window_s;
		if (o.host == NULL)
			o.host = cfg->host_id;
	}
	if (o.host == NULL) {
		fprintf(stderr, "felhom-admin op check: no host id: give "
		    "--host or --config\n");
		usage(stderr);
		goto out;
	}
	/* Read-only: the nonce is looked up, never written. */
	dbpath = o.db != NULL ? o.db : cfg != NULL ? cfg->database : NULL;
	if (dbpath != NULL && (rc = db_open(dbpath, DB_OPEN_READONLY, &db,
	    &dberr)) != 0) {
		if (o.db != NULL) {
			fprintf(stderr, "felhom-admin op check: %s\n",
			    err_msg(&dberr));
			ret = exitcode_of(rc);
			goto out;
		}
		db = NULL;
	}
	if ((set = signers_new()) == NULL) {
		fprintf(stderr, "felhom-admin op check: out of memory\n");
		ret = EX_SOFTWARE;
		goto out;
	}
	if ((rc = load_signers(&o, cfg, db, set, &from, &err)) != 0 ||
	    (rc = cmd_read_file(o.sig, SSHSIG_ARMOR_MAX + 1, &sig, &siglen,
	    &err)) != 0 ||
	    (rc = cmd_read_file(o.blob, BLOB_READ_MAX, &blob, &bloblen,
	    &err)) != 0) {
		fprintf(stderr, "felhom-admin op check: %s\n", err_msg(&err));
		ret = exitcode_of(rc);
		goto out;
	}
	memset(&in, 0, sizeof(in));
	in.blob = (const uint8_t *)blob;
	in.blob_len = bloblen;
	in.signature = sig;
	in.signature_len = siglen;
	in.host_id = o.host;
	in.now = o.have_at ? o.at : (int64_t)time(NULL);
	in.config = &vc;
	in.signers = set;
	/* the database's nonce floor, as the agent applies it. */
	if (db != NULL && dbstate_floor(db, &in.nonce_floor, &err) != 0) {
		fprintf(stderr, "felhom-admin op check: %s\n", err_msg(&err));
		goto out;
	}
	clock_format_rfc3339(in.now, t, sizeof(t));
	printf("signers: %zu operational, %zu recovery (%s); host %s; "
	    "time %s\n", signers_count_role(set, SIGNERS_ROLE_OPERATIONAL),
	    signers_count_role(set, SIGNERS_ROLE_RECOVERY), from, o.host, t);
	rc = verify_run(&in, &res, &err);
	if (rc != 0 && rc != ERR_REJECTED) {
		fprintf(stderr, "felhom-admin op check: %s\n", err_msg(&err));
		ret = exitcode_of(rc);
		goto out;
	}
	for (i = 0; i < VERIFY_STAGE_NONCE; i++) {
		if (res.outcome[i] == VERIFY_OUTCOME_REJECTED)
			printf("%-10s rejected: %s: %s\n", verify_stage_name(i),
			    authz_code_name(res.code), res.msg);
		else
			printf("%-10s %s\n", verify_stage_name(i),
			    verify_outcome_name((int)res.outcome[i]));
	}
	if (rc == 0 && db != NULL) {
		err_init(&err);
		if (nonces_exists(db, res.blob->nonce, &exists, &err) != 0) {
			printf("%-10s skipped (%s)\n", "nonce", err_msg(&err));
		} else if (exists) {
			printf("%-10s rejected: %s: nonce already used\n",
			    "nonce", authz_code_name(AUTHZ_REPLAY));
			res.code = AUTHZ_REPLAY;
			rc = ERR_REJECTED;
		} else
			printf("%-10s ok (unused; not consumed by a check)\n",
			    "nonce");
	} else if (rc == 0)
		printf("%-10s skipped (no database: %s)\n", "nonce",
		    dbpath == NULL ? "none given" : err_msg(&dberr));
	else if (res.stage == VERIFY_STAGE_NONCE)
		printf("%-10s rejected: %s: %s\n", "nonce",
		    authz_code_name(res.code), res.msg);
	else
		printf("%-10s skipped\n", "nonce");
	if (rc == 0) {
		printf("accepted %s signed by %s (%s key %s %s)\n",
		    opblob_op_name((int)res.blob->op), res.principal,
		    signers_role_name((int)res.role),
		    sshsig_keytype_name((int)res.keytype), res.fingerprint);
		ret = 0;
	} else {
		printf("rejected: %s\n", authz_code_name(res.code));
		ret = EXITCODE_NEGATIVE;
	}
out:
	ret = cmd_done(ret);
	verify_result_reset(&res);
	signers_free(set);
	db_close(db);
	config_free(cfg);
	free(sig);
	free(blob);
	return ret;
}

int
cmd_op(struct cmd_ctx *ctx, int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EX_USAGE;
	}
	if (strcmp(argv[1], "new") == 0) {
		cmd_enter(ctx, "op new", argv + 1);
		return op_new(ctx, argc - 1, argv + 1);
	}
	if (strcmp(argv[1], "check") == 0) {
		cmd_enter(ctx, "op check", argv + 1);
		return op_check(ctx, argc - 1, argv + 1);
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "felhom-admin op: unknown subcommand '%s' (new, "
	    "check)\n", argv[1]);
	return EX_USAGE;
}
