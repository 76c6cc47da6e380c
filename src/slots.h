/* What workers tell the master: a table in MAP_SHARED anonymous memory (no
 * heartbeat files, nothing in /tmp or /dev/shm) and notes on a pipe. The
 * master sums the table for /metrics, so a scrape never touches a worker. */
#pragma once
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define SLOTS_MAX 2048 /* up to 1024 workers, twice over during a rollover */
#define SLOT_METHODS 8 /* GET HEAD POST PUT DELETE PATCH OPTIONS other */
#define SLOT_CLASSES 5 /* 1xx .. 5xx */
#define SLOT_BUCKETS 11 /* request duration; +Inf is the count */

/* Who answered a request: the app, STATIC_MAP, HEALTH_PATH, or the parser's refusal. */
enum slot_handler { HANDLER_APP, HANDLER_STATIC, HANDLER_HEALTH, HANDLER_REFUSAL, SLOT_HANDLERS };

/* Upper bounds of the duration buckets, in seconds. */
extern const double slot_bucket_le[SLOT_BUCKETS];
extern const char *const slot_method_names[SLOT_METHODS];
extern const char *const slot_handler_names[SLOT_HANDLERS];

struct slot_shared {
	atomic_llong beat_ms;       /* the worker loop's last turn */
	atomic_llong busy_since_ms; /* start of the oldest app call in progress, 0 when none */
	atomic_int in_flight;
	atomic_ulong requests[SLOT_HANDLERS][SLOT_METHODS][SLOT_CLASSES];
	atomic_ulong buckets[SLOT_BUCKETS]; /* not cumulative: one bucket a request */
	atomic_ullong duration_us, bytes_sent;
	atomic_ulong queue_buckets[SLOT_BUCKETS]; /* app requests' queue time, the same buckets */
	atomic_ulong queued;                      /* app requests whose queue time was counted */
	atomic_ullong queue_us;
};

struct slots {
	atomic_bool draining; /* SHUTDOWN_DELAY: readiness fails, serving goes on */
	struct slot_shared slot[SLOTS_MAX];
};

enum slot_note { NOTE_READY = 1, NOTE_RETIRE = 2, NOTE_RETIRE_RSS = 3 }; /* retire: MAX_REQUESTS, MAX_RSS */

/* One message on the notes pipe; small enough to be written atomically. */
struct slot_msg {
	uint16_t slot;
	uint8_t note;
};

/* The table, zeroed, shared with every process forked after it; NULL on failure. */
struct slots *slots_map(void);

/* CLOCK_MONOTONIC in milliseconds: the same clock in every process. */
long long slots_now_ms(void);

/* Counts one finished response in s (method: llhttp's, or -1 when unknown). */
void slots_count(struct slot_shared *s, enum slot_handler handler, int method, int status, uint64_t bytes,
		 int64_t duration_us);

/* Counts one app request's queue time in s. */
void slots_count_queue(struct slot_shared *s, int64_t queue_us);

/* Adds src's counters into dst (the master's sum of workers gone). */
void slots_add(struct slot_shared *dst, const struct slot_shared *src);
