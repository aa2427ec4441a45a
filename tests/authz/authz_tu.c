/*
 * authz_tu — helpers shared by the authz suites.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "authz/sshsig.h"
#include "authz_tu.h"
#include "testutil.h"

static struct vec_row *vrows;
static size_t vn;

const char *
atu_vec(const char *rel)
{
	static char slots[8][4096];
	static unsigned next;
	char *s = slots[next++ % 8];

	(void) snprintf(s, 4096, "%s/sshsig/%s", tu_fixture_dir(),
	    rel);
	return s;
}

size_t
atu_vectors(const struct vec_row **rows)
{
	char *text, *line, *save = NULL, *cell, *p;
	size_t cap = 0, i;

	if (vrows == NULL) {
		if ((text = tu_read_file(atu_vec("manifest.tsv"), NULL)) ==
		    NULL) {
			*rows = NULL;
			return 0;
		}
		line = strtok_r(text, "\n", &save);	/* header */
		while ((line = strtok_r(NULL, "\n", &save)) != NULL) {
			if (vn == cap) {
				cap = cap == 0 ? 256 : cap * 2;
				vrows = realloc(vrows, cap * sizeof(*vrows));
				if (vrows == NULL)
					abort();
			}
			memset(&vrows[vn], 0, sizeof(vrows[vn]));
			p = line;
			for (i = 0; i < VEC__COUNT; i++) {
				cell = p;
				if (p != NULL && (p = strchr(p, '\t')) != NULL)
					*p++ = '\0';
				vrows[vn].f[i] = strdup(cell != NULL ? cell :
				    "-");
				if (vrows[vn].f[i] == NULL)
					abort();
			}
			vn++;
		}
		free(text);
	}
	*rows = vrows;
	return vn;
}

int
atu_keygen(const char *dir, const char *name, const char *type, int bits,
    char **line_out)
{
	char path[4096], pub[4200], b[16], *text, *sp;
	const char *argv[12];
	int st, n = 0;

	(void) snprintf(path, sizeof(path), "%s/%s", dir, name);
	argv[n++] = "ssh-keygen";
	argv[n++] = "-q";
	argv[n++] = "-t";
	argv[n++] = type;
	if (bits > 0) {
		(void) snprintf(b, sizeof(b), "%d", bits);
		argv[n++] = "-b";
		argv[n++] = b;
	}
	argv[n++] = "-N";
	argv[n++] = "";
	argv[n++] = "-f";
	argv[n++] = path;
	argv[n] = NULL;
	if (tu_run(argv, NULL, NULL, 0, NULL, NULL, &st) != 0 || st != 0)
		return -1;
	if (line_out == NULL)
		return 0;
	(void) snprintf(pub, sizeof(pub), "%s.pub", path);
	if ((text = tu_read_file(pub, NULL)) == NULL)
		return -1;
	/* "type base64 comment\n" → "type base64" */
	if ((sp = strchr(text, ' ')) == NULL ||
	    (sp = strchr(sp + 1, ' ')) == NULL)
		sp = text + strcspn(text, "\n");
	*sp = '\0';
	*line_out = text;
	return 0;
}

char *
atu_sign(const char *dir, const char *key, const char *ns,
    const char *hashalg, const void *msg, size_t len)
{
	char path[4096], opt[64], *out = NULL;
	const char *argv[12];
	int st, n = 0;

	(void) snprintf(path, sizeof(path), "%s/%s", dir, key);
	argv[n++] = "ssh-keygen";
	argv[n++] = "-q";
	argv[n++] = "-Y";
	argv[n++] = "sign";
	argv[n++] = "-n";
	argv[n++] = ns;
	if (hashalg != NULL) {
		(void) snprintf(opt, sizeof(opt), "hashalg=%s", hashalg);
		argv[n++] = "-O";
		argv[n++] = opt;
	}
	argv[n++] = "-f";
	argv[n++] = path;
	argv[n] = NULL;
	/* No file argument: signs stdin, armor on stdout. */
	if (tu_run(argv, NULL, msg, len, &out, NULL, &st) != 0 || st != 0) {
		free(out);
		return NULL;
	}
	return out;
}

char *
atu_write(const char *dir, const char *name, const char *text)
{
	char *path;

	if (asprintf(&path, "%s/%s", dir, name) < 0)
		return NULL;
	if (tu_write_file(path, text, strlen(text), 0644) != 0) {
		free(path);
		return NULL;
	}
	return path;
}

char *
atu_b64(const uint8_t *p, size_t n)
{
	size_t enc = 4 * ((n + 2) / 3), i, o = 0;
	unsigned char *tmp;
	char *out;

	if ((tmp = malloc(enc + 1)) == NULL ||
	    (out = malloc(enc + enc / 70 + 2)) == NULL)
		abort();
	(void) EVP_EncodeBlock(tmp, p, (int)n);
	for (i = 0; i < enc; i++) {
		out[o++] = (char)tmp[i];
		if ((i + 1) % 70 == 0 && i + 1 < enc)
			out[o++] = '\n';
	}
	out[o] = '\0';
	free(tmp);
	return out;
}

char *
atu_armor(const uint8_t *blob, size_t n)
{
	char *b = atu_b64(blob, n), *out;

	if (asprintf(&out, "-----BEGIN SSH SIGNATURE-----\n%s\n"
	    "-----END SSH SIGNATURE-----\n", b) < 0)
		abort();
	free(b);
	return out;
}

uint8_t *
atu_dearmor(const char *armor, size_t *len_out)
{
	const char *b = strchr(armor, '\n'), *e;
	uint8_t *out;
	size_t n;

	if (b == NULL || (e = strstr(b, "\n-----END")) == NULL)
		return NULL;
	n = (size_t)(e - b);
	if ((out = malloc(n)) == NULL)
		abort();
	if (sshsig_b64_decode(b, n, out, n, len_out) != 0) {
		free(out);
		return NULL;
	}
	return out;
}
