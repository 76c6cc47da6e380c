/* A request body: in memory up to 1 MiB, then in a memfd (no /tmp needed). */
#pragma once
#include <stddef.h>
#include <stdint.h>

#define BODY_MEM_MAX (1u << 20)

struct body {
	uint64_t len;
	char *mem;        /* the body while it is in memory */
	size_t cap;
	int fd;           /* the memfd once spilled, else -1 */
	const char *data; /* the whole body, valid after body_finish() */
	void *map;        /* mapping of the memfd, after body_finish() */
};

void body_init(struct body *b);
/* Appends n bytes; -1 with errno when memory or the memfd fails. */
int body_append(struct body *b, const char *p, size_t n);
/* Makes b->data point at the whole body (maps the memfd). */
int body_finish(struct body *b);
/* Empties the body for the next request, keeping a small buffer. */
void body_reset(struct body *b);
void body_free(struct body *b);
