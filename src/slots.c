#include "slots.h"

#include <llhttp.h>
#include <sys/mman.h>
#include <time.h>

const double slot_bucket_le[SLOT_BUCKETS] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
const char *const slot_method_names[SLOT_METHODS] = {"GET", "HEAD", "POST", "PUT", "DELETE",
						      "PATCH", "OPTIONS", "other"};
const char *const slot_handler_names[SLOT_HANDLERS] = {"app", "static", "health", "refused"};

struct slots *slots_map(void)
{
	void *p = mmap(NULL, sizeof(struct slots), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

long long slots_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int method_index(int m)
{
	switch (m) {
	case HTTP_GET: return 0;
	case HTTP_HEAD: return 1;
	case HTTP_POST: return 2;
	case HTTP_PUT: return 3;
	case HTTP_DELETE: return 4;
	case HTTP_PATCH: return 5;
	case HTTP_OPTIONS: return 6;
	}
	return 7;
}

/* The one bucket of a time, SLOT_BUCKETS past the last bound (+Inf only). */
static int bucket(int64_t us)
{
	int b = 0;
	while (b < SLOT_BUCKETS && us > slot_bucket_le[b] * 1e6)
		b++;
	return b;
}

void slots_count(struct slot_shared *s, enum slot_handler handler, int method, int status, uint64_t bytes,
		 int64_t duration_us)
{
	int cls = status >= 100 && status < 600 ? status / 100 - 1 : 4;
	int b = bucket(duration_us);
	atomic_fetch_add_explicit(&s->requests[handler][method_index(method)][cls], 1, memory_order_relaxed);
	if (b < SLOT_BUCKETS)
		atomic_fetch_add_explicit(&s->buckets[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->duration_us, (unsigned long long)duration_us, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->bytes_sent, bytes, memory_order_relaxed);
}

void slots_count_queue(struct slot_shared *s, int64_t queue_us)
{
	int b = bucket(queue_us);
	if (b < SLOT_BUCKETS)
		atomic_fetch_add_explicit(&s->queue_buckets[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->queued, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->queue_us, (unsigned long long)queue_us, memory_order_relaxed);
}

void slots_add(struct slot_shared *dst, const struct slot_shared *src)
{
	for (int h = 0; h < SLOT_HANDLERS; h++)
		for (int m = 0; m < SLOT_METHODS; m++)
			for (int c = 0; c < SLOT_CLASSES; c++)
				dst->requests[h][m][c] += src->requests[h][m][c];
	for (int b = 0; b < SLOT_BUCKETS; b++)
		dst->buckets[b] += src->buckets[b];
	for (int b = 0; b < SLOT_BUCKETS; b++)
		dst->queue_buckets[b] += src->queue_buckets[b];
	dst->queued += src->queued;
	dst->queue_us += src->queue_us;
	dst->duration_us += src->duration_us;
	dst->bytes_sent += src->bytes_sent;
	dst->in_flight += src->in_flight;
}
