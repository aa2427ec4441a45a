/*
 * priv — client of felhom-privhelper.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "base/err.h"
#include "base/json.h"
#include "priv/priv.h"
#include "priv/wire.h"

struct priv_client {
	char		*path;
	barrier_fn	 barrier;	/* before any request leaves */
	void		*barrier_ctx;
};

struct priv_call {
	int			 fd;
	struct wire_reader	 rd;
	int			 done;
};

int
priv_client_new(const char *socket_path, struct priv_client **out,
    struct err *err)
{
	struct priv_client *c;
	struct sockaddr_un sa;

	if (socket_path == NULL || socket_path[0] != '/' ||
	    strlen(socket_path) >= sizeof(sa.sun_path))
		return err_set(err, ERR_CONFIG, "priv.socket: '%s' is not an "
		    "absolute path that fits a Unix socket address",
		    socket_path != NULL ? socket_path : "(null)");
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->path = strdup(socket_path)) == NULL) {
		free(c);
		return err_set(err, ERR_NOMEM, "out of memory");
	}
	*out = c;
	return 0;
}

void
priv_client_free(struct priv_client *c)
{
	if (c == NULL)
		return;
	free(c->path);
	free(c);
}

void
priv_client_set_barrier(struct priv_client *c, barrier_fn fn, void *ctx)
{
	c->barrier = fn;
	c->barrier_ctx = ctx;
}

const char *
priv_client_socket(const struct priv_client *c)
{
	return c->path;
}

void
priv_call_free(struct priv_call *call)
{
	if (call == NULL)
		return;
	if (call->fd >= 0)
		(void) close(call->fd);
	wire_reader_reset(&call->rd);
	free(call);
}

static int take_answer(const char *body, size_t len, json_t **result_out,
    struct err *err);

static int
connect_helper(const struct priv_client *c, int *fd_out, struct err *err)
{
	struct sockaddr_un sa;
	int fd, e;

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return err_set(err, ERR_IO, "helper: socket: %s",
		    strerror(errno));
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, c->path, strlen(c->path) + 1);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		e = errno;
		(void) close(fd);
		if (e == ENOENT || e == ECONNREFUSED)
			return err_set(err, ERR_UNSUPPORTED, "the privileged "
			    "helper does not answer on %s (%s): is "
			    "felhom-privhelper.socket installed and active?",
			    c->path, strerror(e));
		return err_set(err, ERR_IO, "helper %s: connect: %s", c->path,
		    strerror(e));
	}
	/* Non-blocking from here: the loop never waits on the helper. */
	if (fcntl(fd, F_SETFL, O_NONBLOCK) != 0) {
		e = errno;
		(void) close(fd);
		return err_set(err, ERR_IO, "helper: fcntl: %s", strerror(e));
	}
	*fd_out = fd;
	return 0;
}

int
priv_call_start(struct priv_client *c, const json_t *req,
    struct priv_call **out, struct err *err)
{
	struct priv_call *call = NULL;
	json_t *res = NULL;
	struct err we;
	char *text = NULL, *body = NULL;
	size_t len = 0;
	int rc;

	/* Write-ahead: what the request carries out is durable first. */
	if (c->barrier != NULL && (rc = c->barrier(c->barrier_ctx, err)) != 0)
		return err_prefix(err, "helper request not sent: ");
	if ((text = jsonx_dump(req)) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	if (strlen(text) > WIRE_REQUEST_MAX) {
		rc = err_set(err, ERR_TOO_LARGE, "helper request of %zu bytes, "
		    "over the limit of %d", strlen(text), WIRE_REQUEST_MAX);
		goto out;
	}
	if ((call = calloc(1, sizeof(*call))) == NULL) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	call->fd = -1;
	wire_reader_init(&call->rd, WIRE_ANSWER_MAX);
	if ((rc = connect_helper(c, &call->fd, err)) != 0)
		goto out;
	/* A request fits the socket buffer: this does not wait in practice. */
	err_init(&we);
	if ((rc = wire_write(call->fd, text, strlen(text), wire_now_ms() +
	    10000, &we)) != 0) {
		/* The helper may have refused and closed first: its answer. */
		if (wire_read(call->fd, WIRE_ANSWER_MAX, wire_now_ms() + 2000,
		    &body, &len, NULL) == 0) {
			rc = take_answer(body, len, &res, err);
			json_decref(res);
			if (rc == 0)
				rc = err_set(err, ERR_PROTOCOL, "helper "
				    "answered a request it did not read");
		} else
			rc = err_copy(err, &we);
		free(body);
		goto out;
	}
	*out = call;
	call = NULL;
out:
	priv_call_free(call);
	free(text);
	return rc;
}

/* The answer document → result or the helper's error. */
static int
take_answer(const char *body, size_t len, json_t **result_out,
    struct err *err)
{
	json_t *doc = NULL, *res;
	const char *code = NULL, *msg = NULL;
	int ok = 0, rc;

	if ((rc = jsonx_parse(body, len, WIRE_ANSWER_MAX, JSONX_DUPLICATES,
	    "helper answer", &doc, err)) != 0) {
		if (err != NULL)
			err->code = ERR_PROTOCOL;
		return ERR_PROTOCOL;
	}
	if (!json_is_object(doc) ||
	    jsonx_req_bool(doc, "answer", "ok", &ok, NULL) != 0) {
		rc = err_set(err, ERR_PROTOCOL, "helper answer: no \"ok\"");
		goto out;
	}
	if (!ok) {
		(void) jsonx_opt_string(doc, "answer", "code", &code, NULL,
		    NULL);
		(void) jsonx_opt_string(doc, "answer", "error", &msg, NULL,
		    NULL);
		rc = err_set(err, wire_code_parse(code), "helper: %s",
		    msg != NULL ? msg : "refused without a message");
		goto out;
	}
	res = json_object_get(doc, "result");
	if (!json_is_object(res)) {
		rc = err_set(err, ERR_PROTOCOL, "helper answer: no result");
		goto out;
	}
	*result_out = json_incref(res);
	rc = 0;
out:
	json_decref(doc);
	return rc;
}

int
priv_call_poll(struct priv_call *call, int *done, json_t **result_out,
    struct err *err)
{
	char *body;
	size_t len;
	int rc;

	*done = 0;
	if (call->done)
		return err_set(err, ERR_INTERNAL, "helper call already done");
	if ((rc = wire_reader_feed(&call->rd, call->fd, done, err)) != 0) {
		call->done = 1;
		*done = 1;
		if (rc == ERR_TRUNCATED)
			return err_set(err, ERR_PROTOCOL, "helper: the "
			    "connection closed before an answer");
		return rc;
	}
	if (!*done)
		return 0;
	call->done = 1;
	body = wire_reader_take(&call->rd, &len);
	rc = take_answer(body, len, result_out, err);
	free(body);
	return rc;
}

int
priv_call(struct priv_client *c, const json_t *req, long timeout_ms,
    json_t **result_out, struct err *err)
{
	struct priv_call *call = NULL;
	char *body = NULL;
	size_t len;
	int rc;

	if (timeout_ms <= 0)
		timeout_ms = PRIV_CALL_TIMEOUT_MS;
	if ((rc = priv_call_start(c, req, &call, err)) != 0)
		return rc;
	if ((rc = wire_read(call->fd, WIRE_ANSWER_MAX, wire_now_ms() +
	    timeout_ms, &body, &len, err)) != 0) {
		if (rc == ERR_TRUNCATED)
			rc = err_set(err, ERR_PROTOCOL, "helper: the "
			    "connection closed before an answer");
		goto out;
	}
	rc = take_answer(body, len, result_out, err);
out:
	free(body);
	priv_call_free(call);
	return rc;
}

/* ---- builders ------------------------------------------------------------ */

static int
copy_key(json_t *req, const json_t *spec, const char *from, const char *to)
{
	json_t *v = json_object_get(spec, from);

	if (v == NULL || json_is_null(v))
		return 0;
	return json_object_set(req, to, v);
}

json_t *
priv_req_create(const struct priv_create *a)
{
	static const char *const spec_keys[] = { "hostname", "memory_mib",
	    "swap_mib", "cores", "onboot", "description", "tags", NULL };
	json_t *req;
	size_t i;

	req = json_pack("{s:s,s:I,s:s,s:s,s:I,s:O}", "type", "create",
	    "vmid", (json_int_t)a->vmid, "template", a->template_volid,
	    "storage", a->storage, "rootfs_gib", (json_int_t)a->rootfs_gib,
	    "features", a->features != NULL ? a->features : json_object());
	if (req == NULL)
		return NULL;
	for (i = 0; a->spec != NULL && spec_keys[i] != NULL; i++)
		if (copy_key(req, a->spec, spec_keys[i], spec_keys[i]) != 0) {
			json_decref(req);
			return NULL;
		}
	return req;
}

json_t *
priv_req_restore(int64_t vmid, const char *archive, const char *storage,
    int force, int unique)
{
	return json_pack("{s:s,s:I,s:s,s:s,s:b,s:b}", "type", "restore",
	    "vmid", (json_int_t)vmid, "archive", archive, "storage", storage,
	    "force", force, "unique", unique);
}

json_t *
priv_req_features(int64_t vmid, const json_t *features)
{
	return json_pack("{s:s,s:I,s:O}", "type", "features", "vmid",
	    (json_int_t)vmid, "features", features);
}

json_t *
priv_req_attach(int64_t vmid, const struct priv_bind *binds, size_t nbinds,
    const struct priv_device *devs, size_t ndevs,
    const char *const *delete_keys, size_t ndelete)
{
	json_t *req, *b = NULL, *d = NULL, *del = NULL, *e;
	size_t i;

	req = json_pack("{s:s,s:I}", "type", "attach", "vmid",
	    (json_int_t)vmid);
	if (req == NULL)
		return NULL;
	if ((nbinds > 0 && (b = json_array()) == NULL) ||
	    (ndevs > 0 && (d = json_array()) == NULL) ||
	    (ndelete > 0 && (del = json_array()) == NULL))
		goto fail;
	for (i = 0; i < nbinds; i++) {
		e = json_pack("{s:s,s:s,s:s,s:b}", "key", binds[i].key,
		    "host_path", binds[i].host_path, "path", binds[i].path,
		    "read_only", binds[i].read_only);
		if (e == NULL || json_array_append_new(b, e) != 0)
			goto fail;
	}
	for (i = 0; i < ndevs; i++) {
		e = devs[i].usb != NULL ? json_pack("{s:s,s:s}", "key",
		    devs[i].key, "usb", devs[i].usb) : json_pack("{s:s,s:s}",
		    "key", devs[i].key, "path", devs[i].path != NULL ?
		    devs[i].path : "");
		if (e == NULL || json_array_append_new(d, e) != 0)
			goto fail;
	}
	for (i = 0; i < ndelete; i++)
		if (json_array_append_new(del, json_string(delete_keys[i])) !=
		    0)
			goto fail;
	if ((b != NULL && json_object_set_new(req, "bind", b) != 0) ||
	    (d != NULL && json_object_set_new(req, "devices", d) != 0) ||
	    (del != NULL && json_object_set_new(req, "delete", del) != 0)) {
		b = d = del = NULL;	/* set_new took them even on failure */
		goto fail;
	}
	return req;
fail:
	json_decref(b);
	json_decref(d);
	json_decref(del);
	json_decref(req);
	return NULL;
}

json_t *
priv_req_smart(const char *device)
{
	return json_pack("{s:s,s:s}", "type", "smart", "device", device);
}

json_t *
priv_req_sensors(void)
{
	return json_pack("{s:s}", "type", "sensors");
}

/* ---- whole calls ----------------------------------------------------- */

/* Calls req (taking the reference), keeping result only if asked. */
static int
call_req(struct priv_client *c, json_t *req, long timeout_ms,
    json_t **result_out, struct err *err)
{
	json_t *res = NULL;
	int rc;

	if (req == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	rc = priv_call(c, req, timeout_ms, &res, err);
	json_decref(req);
	if (rc == 0 && result_out != NULL)
		*result_out = res;
	else
		json_decref(res);
	return rc;
}

int
priv_restore(struct priv_client *c, int64_t vmid, const char *archive,
    const char *storage, int force, long timeout_ms, struct err *err)
{
	return call_req(c, priv_req_restore(vmid, archive, storage, force, 0),
	    timeout_ms, NULL, err);
}

int
priv_attach(struct priv_client *c, int64_t vmid,
    const struct priv_bind *binds, size_t nbinds,
    const struct priv_device *devs, size_t ndevs, struct err *err)
{
	return call_req(c, priv_req_attach(vmid, binds, nbinds, devs, ndevs,
	    NULL, 0), 0, NULL, err);
}

int
priv_smart(struct priv_client *c, const char *device, json_t **out,
    struct err *err)
{
	json_t *res = NULL, *disk;
	int rc;

	if ((rc = call_req(c, priv_req_smart(device), 0, &res, err)) != 0)
		return rc;
	disk = json_object_get(res, "disk");
	if (!json_is_object(disk)) {
		json_decref(res);
		return err_set(err, ERR_PROTOCOL, "helper: smart answer has "
		    "no disk");
	}
	*out = json_incref(disk);
	json_decref(res);
	return 0;
}

int
priv_sensors(struct priv_client *c, json_t **out, struct err *err)
{
	json_t *res = NULL, *list;
	int rc;

	if ((rc = call_req(c, priv_req_sensors(), 0, &res, err)) != 0)
		return rc;
	list = json_object_get(res, "sensors");
	if (!json_is_array(list)) {
		json_decref(res);
		return err_set(err, ERR_PROTOCOL, "helper: sensors answer has "
		    "no list");
	}
	*out = json_incref(list);
	json_decref(res);
	return 0;
}
