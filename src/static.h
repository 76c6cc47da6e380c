/* STATIC_MAP: files under a mapped prefix, answered by the worker in C (the
 * app never sees these requests). GET and HEAD with validators, conditional
 * requests, a single Range, precompressed .br/.gz siblings and a Content-Type
 * from /etc/mime.types. The URL is checked before anything is opened, and
 * files are opened relative to a directory held open from the start. */
#pragma once
#include "config.h"
#include "http.h"
#include "response.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct static_files;

/* Opens each STATIC_MAP directory and reads /etc/mime.types; NULL after
 * writing one line naming the entry into err (a directory that cannot be
 * opened for reading, e.g. after the privilege drop). */
struct static_files *static_open(const struct config *cfg, char *err, size_t errlen);
/* Closes the directories and frees the tables (NULL is fine). */
void static_close(struct static_files *s);

/* True when path (still percent-encoded) falls under a mapped prefix. */
bool static_match(const struct static_files *s, const char *path, size_t n);

/* Answers a request under a mapped prefix into r (already begun): status,
 * headers, body. The file, if any, is queued by fd for sendfile. */
void static_serve(const struct static_files *s, const char *buf, const struct http_request *req,
		  struct response *r);

/* ---------- the pure parts, public for the unit tests and the fuzzer ---------- */

/* Decodes and checks path (what follows the prefix, still percent-encoded)
 * into a relative path for openat: 0, or 400 for a malformed escape, 404 for
 * a "." segment (.., dotfiles), an empty one (//, trailing /), an encoded '/',
 * a NUL, or a result that does not fit in cap. */
int static_resolve(const char *path, size_t n, char *out, size_t cap);

enum static_range { RANGE_WHOLE, RANGE_PART, RANGE_UNSATISFIABLE };

/* Reads a Range value against a file of size bytes: one satisfiable range
 * sets [*off, *off + *len); several ranges, another unit or bad syntax ask
 * for the whole file. */
enum static_range static_parse_range(const char *v, size_t n, uint64_t size, uint64_t *off,
				     uint64_t *len);

/* True when the If-None-Match value (a list, or *) names etag, by weak
 * comparison: W/ prefixes are ignored on both sides. */
bool static_etag_match(const char *v, size_t n, const char *etag);

/* Reads an HTTP-date (IMF-fixdate, or the obsolete RFC 850 and asctime forms). */
bool static_parse_date(const char *v, size_t n, int64_t *t);

enum static_coding { CODING_IDENTITY, CODING_BR, CODING_GZIP };

/* The coding to send given an Accept-Encoding value and the siblings that
 * exist (avail: bits 1u << CODING_BR, 1u << CODING_GZIP): the highest q
 * above 0, br before gzip at equal q. */
enum static_coding static_pick_coding(const char *v, size_t n, unsigned avail);

/* True for a name whose last component before the extension is 8 to 32 hex
 * digits (app.3f2a9c1b7d4e.css): content-hashed, so cached as immutable. */
bool static_hashed(const char *name, size_t n);

/* The Content-Type for a file name (by extension, case-insensitive), with
 * "; charset=utf-8" for text, JavaScript and JSON. */
const char *static_type(const struct static_files *s, const char *name, size_t n);
