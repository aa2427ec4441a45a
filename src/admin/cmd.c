/*
 * cmd — the helpers felhom-admin's commands share: global options,
 * configuration and database, one-line failures with the shared exit
 * statuses, the operator's name, JSON output.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <jansson.h>

#include "admin/cmd.h"
#include "base/err.h"
#include "base/clock.h"
#include "base/exitcode.h"
#include "store/adminq.h"

enum {
	OPT_G_CONFIG = 0x1000,
	OPT_G_DB,
	OPT_G_JSON,
};

static const struct option global_opts[] = {
	{ "config", required_argument, NULL, OPT_G_CONFIG },
	{ "db", required_argument, NULL, OPT_G_DB },
	{ "json", no_argument, NULL, OPT_G_JSON },
};

void
cmd_enter(struct cmd_ctx *ctx, const char *name, char **argv)
{
	(void) snprintf(ctx->namebuf, sizeof(ctx->namebuf), "%s", name);
	(void) snprintf(ctx->label, sizeof(ctx->label), "felhom-admin %s",
	    name);
	ctx->name = ctx->namebuf;
	argv[0] = ctx->label;
}

int
cmd_getopt(struct cmd_ctx *ctx, int argc, char **argv, const char *shortopts,
    const struct option *longopts)
{
	size_t n = 0, i;
	int c;

	if (ctx->opts_of != longopts) {
		/* A new parse: the command's options, then the globals. */
		for (i = 0; longopts != NULL && longopts[i].name != NULL &&
		    n < CMD_OPTS_MAX - 4; i++)
			ctx->opts[n++] = longopts[i];
		for (i = 0; i < sizeof(global_opts) / sizeof(global_opts[0]);
		    i++)
			ctx->opts[n++] = global_opts[i];
		memset(&ctx->opts[n], 0, sizeof(ctx->opts[n]));
		ctx->opts_of = longopts;
		optind = 0;
	}
	for (;;) {
		c = getopt_long(argc, argv, shortopts, ctx->opts, NULL);
		switch (c) {
		case OPT_G_CONFIG:
			ctx->config_path = optarg;
			continue;
		case OPT_G_DB:
			ctx->db_path = optarg;
			continue;
		case OPT_G_JSON:
			ctx->json = 1;
			continue;
		default:
			return c;
		}
	}
}

static void
vfail(struct cmd_ctx *ctx, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void
vfail(struct cmd_ctx *ctx, const char *fmt, va_list ap)
{
	fprintf(stderr, "felhom-admin%s%s: ", ctx->name != NULL ? " " : "",
	    ctx->name != NULL ? ctx->name : "");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

int
cmd_fail(struct cmd_ctx *ctx, int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(ctx, fmt, ap);
	va_end(ap);
	return status;
}

int
cmd_fail_err(struct cmd_ctx *ctx, const struct err *err)
{
	return cmd_fail(ctx, exitcode_of(err->code != 0 ? err->code :
	    ERR_INTERNAL), "%s", err_msg(err));
}

int
cmd_usage_fail(struct cmd_ctx *ctx, void (*usage)(FILE *))
{
	(void) ctx;
	usage(stderr);
	return EX_USAGE;
}

int
cmd_config(struct cmd_ctx *ctx, int optional, const struct config **out)
{
	struct err err;
	int rc;

	*out = NULL;
	if (ctx->cfg != NULL) {
		*out = ctx->cfg;
		return 0;
	}
	if (optional && ctx->config_path == NULL &&
	    access(CONFIG_DEFAULT_PATH, F_OK) != 0 && errno == ENOENT)
		return 0;
	err_init(&err);
	if ((rc = config_load(ctx->config_path, NULL, &ctx->cfg, &err)) != 0)
		return cmd_fail(ctx, exitcode_of(rc), "%s", err_msg(&err));
	*out = ctx->cfg;
	return 0;
}

int
cmd_db_path(struct cmd_ctx *ctx, const char **out)
{
	const struct config *cfg;
	int rc;

	if (ctx->db_path != NULL) {
		*out = ctx->db_path;
		return 0;
	}
	if ((rc = cmd_config(ctx, 0, &cfg)) != 0)
		return rc;
	*out = cfg->database;
	return 0;
}

int
cmd_db_open(struct cmd_ctx *ctx, int flags, struct db **out)
{
	struct err err;
	const char *path;
	int rc;

	if ((rc = cmd_db_path(ctx, &path)) != 0)
		return rc;
	if (access(path, F_OK) != 0 && errno == ENOENT)
		return cmd_fail(ctx, EX_NOINPUT, "%s: no database (the agent "
		    "creates it at its first start; 'felhom-admin db "
		    "migrate' creates an empty one)", path);
	err_init(&err);
	if ((rc = db_open(path, flags & ~(DB_OPEN_CREATE | DB_OPEN_MIGRATE),
	    out, &err)) != 0)
		/* db_ messages already name the path. */
		return cmd_fail_err(ctx, &err);
	return 0;
}

void
cmd_operator(char *out, size_t n)
{
	const char *s;
	struct passwd *pw;

	if ((s = getenv("SUDO_USER")) != NULL && s[0] != '\0')
		(void) snprintf(out, n, "%s", s);
	else if ((s = getenv("USER")) != NULL && s[0] != '\0')
		(void) snprintf(out, n, "%s", s);
	else if ((pw = getpwuid(getuid())) != NULL && pw->pw_name != NULL)
		(void) snprintf(out, n, "%s", pw->pw_name);
	else
		(void) snprintf(out, n, "uid %ld", (long)getuid());
}

int
cmd_print_json(json_t *doc)
{
	int rc;

	if (doc == NULL) {
		fprintf(stderr, "felhom-admin: out of memory\n");
		return EX_SOFTWARE;
	}
	rc = json_dumpf(doc, stdout, JSON_INDENT(2));
	json_decref(doc);
	if (rc != 0 || putchar('\n') == EOF)
		return EX_IOERR;
	return 0;
}

int
cmd_done(int ret)
{
	if (fflush(stdout) != 0 || ferror(stdout))
		return ret == 0 ? EX_IOERR : ret;
	return ret;
}

const char *
cmd_time(int64_t t, char *out, size_t n)
{
	if (t <= 0)
		(void) snprintf(out, n, "-");
	else
		clock_format_rfc3339(t, out, n);
	return out;
}

const char *
cmd_duration(int64_t s, char *out, size_t n)
{
	if (s < 0)
		s = 0;
	if (s >= 86400)
		(void) snprintf(out, n, "%" PRId64 "d%02" PRId64 "h",
		    s / 86400, s % 86400 / 3600);
	else if (s >= 3600)
		(void) snprintf(out, n, "%" PRId64 "h%02" PRId64 "m",
		    s / 3600, s % 3600 / 60);
	else if (s >= 60)
		(void) snprintf(out, n, "%" PRId64 "m%02" PRId64 "s", s / 60,
		    s % 60);
	else
		(void) snprintf(out, n, "%" PRId64 "s", s);
	return out;
}

int
cmd_parse_op_id(const char *s, struct err *err)
{
	size_t i;

	if (strncmp(s, "op-", 3) != 0 || strlen(s) != OPS_UID_LEN - 1)
		goto bad;
	for (i = 3; s[i] != '\0'; i++)
		if (!isxdigit((unsigned char)s[i]) ||
		    isupper((unsigned char)s[i]))
			goto bad;
	return 0;
bad:
	return err_set(err, ERR_INVALID, "'%.40s%s' is not an operation id "
	    "(op- and 16 hex digits)", s, strlen(s) > 40 ? "..." : "");
}

int
cmd_parse_since(const char *s, int64_t now, int64_t *out)
{
	char *end;
	long long v;
	int64_t mul = 1;

	if (clock_parse_rfc3339(s, out) == 0)
		return 0;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || v < 0)
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
	if (v > now / mul)
		return ERR_INVALID;
	*out = now - (int64_t)v * mul;
	return 0;
}

int
cmd_read_file(const char *path, size_t cap, char **out, size_t *len_out,
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

int64_t
cmd_parse_count(const char *s)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 0)
		return -1;
	return v;
}

int
cmd_print_rows(const json_t *arr, size_t ncols, const char *const *hdr,
    const char *const *keys, size_t capped, size_t cap)
{
	struct cmd_table *t;
	const json_t *o;
	char *c[16];
	size_t i, k;
	int rc = 0;

	if ((t = cmd_table_new(ncols, hdr)) == NULL)
		return ERR_NOMEM;
	cmd_table_cap(t, capped, cap);
	json_array_foreach(arr, i, o) {
		for (k = 0; k < ncols; k++)
			if ((c[k] = cmd_cell(json_object_get(o, keys[k]))) ==
			    NULL)
				rc = ERR_NOMEM;
		if (rc == 0)
			rc = cmd_table_add(t, (const char *const *)c);
		for (k = 0; k < ncols; k++)
			free(c[k]);
		if (rc != 0)
			break;
	}
	if (rc == 0)
		cmd_table_print(t, stdout);
	cmd_table_free(t);
	return rc;
}

int
cmd_filter_opt(struct cmd_ctx *ctx, int ch, struct cmd_filter *o,
    void (*usage)(FILE *))
{
	int64_t v;

	switch (ch) {
	case 'o':
		o->op = optarg;
		return 0;
	case 'v':
		if ((v = cmd_parse_count(optarg)) < 100 || v > 999999999) {
			(void) cmd_fail(ctx, EX_USAGE, "--vmid '%s': not a "
			    "vmid (100-999999999)", optarg);
			return cmd_usage_fail(ctx, usage);
		}
		o->f.vmid = v;
		return 0;
	case 's':
		if (cmd_parse_since(optarg, clock_now(clock_system()),
		    &o->f.since) != 0) {
			(void) cmd_fail(ctx, EX_USAGE, "--since '%s': expected "
			    "YYYY-MM-DDTHH:MM:SSZ or N[smhd]", optarg);
			return cmd_usage_fail(ctx, usage);
		}
		return 0;
	case 'l':
		if ((v = cmd_parse_count(optarg)) < 0) {
			(void) cmd_fail(ctx, EX_USAGE, "--limit '%s': not a "
			    "count", optarg);
			return cmd_usage_fail(ctx, usage);
		}
		o->f.limit = (size_t)v;
		return 0;
	default:
		return cmd_usage_fail(ctx, usage);
	}
}

int
cmd_filter_resolve(struct cmd_ctx *ctx, struct db *db, struct cmd_filter *o)
{
	struct ops_row *op = NULL;
	int ret;

	if (o->op == NULL)
		return 0;
	if ((ret = cmd_find_op(ctx, db, o->op, &op)) != 0)
		return ret;
	o->f.op_id = op->id;
	ops_row_free(op);
	return 0;
}

int
cmd_filter_list(struct cmd_ctx *ctx, struct cmd_filter *o,
    const struct cmd_listing *l)
{
	struct db *db = NULL;
	struct err err;
	json_t *arr = NULL;
	int ret;

	if ((ret = cmd_db_open(ctx, DB_OPEN_READONLY, &db)) != 0)
		return ret;
	err_init(&err);
	if ((ret = cmd_filter_resolve(ctx, db, o)) != 0)
		goto out;
	if (l->query(db, &o->f, &arr, &err) != 0) {
		ret = cmd_fail_err(ctx, &err);
		goto out;
	}
	if (ctx->json) {
		ret = cmd_done(cmd_print_json(arr));
		arr = NULL;
	} else if (json_array_size(arr) == 0) {
		printf("%s\n", l->empty);
		ret = cmd_done(0);
	} else
		ret = cmd_done(cmd_print_rows(arr, l->ncols, l->hdr, l->keys,
		    l->capped, l->cap) == 0 ? 0 : EX_SOFTWARE);
out:
	json_decref(arr);
	db_close(db);
	return ret;
}
