/*
 * journald — structured entries for the systemd journal through its
 * native protocol: one datagram of FIELD=value items to
 * /run/systemd/journal/socket, as sd_journal_send(3) sends them
 * (https://systemd.io/JOURNAL_NATIVE_PROTOCOL/, a stable interface).
 * A value holding a newline goes in the protocol's length-prefixed form.
 *
 * Spoken directly rather than through libsystemd: no extra dependency,
 * and a test can receive the very datagrams on its own socket.  Used by
 * log_ only; it never logs itself.
 */
#ifndef FELHOM_BASE_JOURNALD_H
#define FELHOM_BASE_JOURNALD_H

#include <stddef.h>

#include "base/err.h"

#define JOURNALD_SOCKET		"/run/systemd/journal/socket"
#define JOURNALD_ENTRY_MAX	(64 * 1024)	/* larger: ERR_TOO_LARGE */

struct journald_field {
	const char	*name;	/* any text: sanitized to [A-Z0-9_] */
	const char	*value;	/* NUL-terminated; NULL sends "" */
};

/*
 * Sends one entry to socket_path (NULL = JOURNALD_SOCKET) through *fd,
 * which is opened on first use (start it at -1; close it with
 * journald_close).  Field names are upper-cased, other characters
 * become '_', and a name that would start with a digit or '_' gets an
 * "F" in front (journald drops such fields, or reserves them).
 * ERR_IO when the journal cannot be reached (the caller falls back to
 * stderr), ERR_TOO_LARGE over JOURNALD_ENTRY_MAX, ERR_NOMEM.
 */
int	journald_send(int *fd, const char *socket_path,
	    const struct journald_field *fields, size_t n, struct err *err);
void	journald_close(int *fd);

/* Writes the sanitized field name of name into out (cap >= 2). */
void	journald_field_name(char *out, size_t cap, const char *name);

#endif
