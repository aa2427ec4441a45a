/*
 * journald — the journal's native datagram protocol.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "base/journald.h"

/* journald ignores longer names (journal-file.h FIELD_NAME_MAX). */
#define JOURNALD_NAME_MAX	64

void
journald_field_name(char *out, size_t cap, const char *name)
{
	size_t i = 0, lim = cap - 1 < JOURNALD_NAME_MAX ? cap - 1 :
	    JOURNALD_NAME_MAX;
	unsigned char c;

	if (name == NULL || *name == '\0' || *name == '_' ||
	    (*name >= '0' && *name <= '9'))
		out[i++] = 'F';
	for (; name != NULL && *name != '\0' && i < lim; name++) {
		c = (unsigned char)*name;
		if (c >= 'a' && c <= 'z')
			c = (unsigned char)(c - 'a' + 'A');
		else if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
			c = '_';
		out[i++] = (char)c;
	}
	out[i] = '\0';
}

static void
put(uint8_t *buf, size_t *off, const void *p, size_t n)
{
	memcpy(buf + *off, p, n);
	*off += n;
}

int
journald_send(int *fd, const char *socket_path,
    const struct journald_field *fields, size_t n, struct err *err)
{
	struct sockaddr_un sa;
	char name[JOURNALD_NAME_MAX + 2];
	uint8_t *buf = NULL, le[8];
	size_t i, k, off = 0, need = 0, vlen;
	const char *v;
	uint64_t len64;
	int rc;

	if (socket_path == NULL)
		socket_path = JOURNALD_SOCKET;
	if (strlen(socket_path) >= sizeof(sa.sun_path))
		return err_set(err, ERR_INVALID, "journal socket path too "
		    "long");
	for (i = 0; i < n; i++) {
		v = fields[i].value != NULL ? fields[i].value : "";
		/* name, '=' or '\n' + 8-byte length, value, '\n' */
		need += JOURNALD_NAME_MAX + 1 + 8 + strlen(v) + 1;
	}
	if (need > JOURNALD_ENTRY_MAX)
		return err_set(err, ERR_TOO_LARGE, "journal entry of %zu bytes "
		    "is over %d", need, JOURNALD_ENTRY_MAX);
	if ((buf = malloc(need + 1)) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		v = fields[i].value != NULL ? fields[i].value : "";
		vlen = strlen(v);
		journald_field_name(name, sizeof(name), fields[i].name);
		put(buf, &off, name, strlen(name));
		if (memchr(v, '\n', vlen) == NULL) {
			put(buf, &off, "=", 1);
		} else {
			/* NAME\n<little-endian 64-bit length><value>\n */
			put(buf, &off, "\n", 1);
			len64 = (uint64_t)vlen;
			for (k = 0; k < 8; k++)
				le[k] = (uint8_t)(len64 >> (8 * k));
			put(buf, &off, le, 8);
		}
		put(buf, &off, v, vlen);
		put(buf, &off, "\n", 1);
	}
	if (*fd < 0 &&
	    (*fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0) {
		rc = err_set(err, ERR_IO, "journal socket: %s",
		    strerror(errno));
		goto out;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, socket_path, strlen(socket_path) + 1);
	if (sendto(*fd, buf, off, MSG_NOSIGNAL, (const struct sockaddr *)&sa,
	    sizeof(sa)) < 0) {
		rc = err_set(err, errno == EMSGSIZE ? ERR_TOO_LARGE : ERR_IO,
		    "sending to %s: %s", socket_path, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	free(buf);
	return rc;
}

void
journald_close(int *fd)
{
	if (*fd >= 0)
		(void) close(*fd);
	*fd = -1;
}
