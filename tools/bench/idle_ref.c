/*
 * bench-idle-ref — the reference of bench-memory (issue 15): a process
 * that links the libraries felhom-agent links (SQLite, libcurl, OpenSSL,
 * Jansson), touches each once as the agent's start does (an in-memory
 * database, curl's global init, a JSON value) and then sleeps until it
 * is signalled.  Its PSS and private memory are the floor no agent built
 * on them can go below.
 */
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <sqlite3.h>

int
main(void)
{
	sqlite3 *db = NULL;
	json_t *v;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
	    sqlite3_open(":memory:", &db) != SQLITE_OK ||
	    (v = json_pack("{s:s}", "ssl", OpenSSL_version(OPENSSL_VERSION))) ==
	    NULL) {
		fprintf(stderr, "bench-idle-ref: cannot initialize\n");
		return 1;
	}
	json_decref(v);
	for (;;)
		(void) pause();
}
