/* Request body storage. */
#include "body.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define KEEP_CAP (64u << 10) /* buffers up to this size are reused */

void body_init(struct body *b)
{
	memset(b, 0, sizeof *b);
	b->fd = -1;
	b->data = "";
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int spill(struct body *b)
{
	b->fd = memfd_create("wsginit-body", MFD_CLOEXEC);
	if (b->fd < 0 || write_all(b->fd, b->mem, (size_t)b->len) < 0)
		return -1;
	return 0;
}

int body_append(struct body *b, const char *p, size_t n)
{
	if (b->fd < 0 && b->len + n > BODY_MEM_MAX && spill(b) < 0)
		return -1;
	if (b->fd >= 0) {
		if (write_all(b->fd, p, n) < 0)
			return -1;
		b->len += n;
		return 0;
	}
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 16384;
		while (cap < b->len + n)
			cap *= 2;
		char *mem = realloc(b->mem, cap);
		if (!mem)
			return -1;
		b->mem = mem;
		b->cap = cap;
	}
	memcpy(b->mem + b->len, p, n);
	b->len += n;
	return 0;
}

int body_finish(struct body *b)
{
	if (b->fd < 0) {
		b->data = b->mem ? b->mem : "";
		return 0;
	}
	b->map = mmap(NULL, (size_t)b->len, PROT_READ, MAP_PRIVATE, b->fd, 0);
	if (b->map == MAP_FAILED) {
		b->map = NULL;
		return -1;
	}
	b->data = b->map;
	return 0;
}

void body_reset(struct body *b)
{
	if (b->map)
		munmap(b->map, (size_t)b->len);
	if (b->fd >= 0)
		close(b->fd);
	if (b->cap > KEEP_CAP) {
		free(b->mem);
		b->mem = NULL;
		b->cap = 0;
	}
	b->len = 0;
	b->fd = -1;
	b->map = NULL;
	b->data = "";
}

void body_free(struct body *b)
{
	body_reset(b);
	free(b->mem);
	body_init(b);
}
