/* What workers tell the master: a table in MAP_SHARED anonymous memory (no
 * heartbeat files, nothing in /tmp or /dev/shm) and notes on a pipe. */
#pragma once
#include <stdatomic.h>
#include <stdint.h>

#define SLOTS_MAX 2048 /* up to 1024 workers, twice over during a rollover */

struct slot_shared {
	atomic_llong beat_ms;       /* the worker loop's last turn */
	atomic_llong busy_since_ms; /* start of the oldest app call in progress, 0 when none */
	atomic_ulong requests;
};

enum slot_note { NOTE_READY = 1, NOTE_RETIRE = 2 };

/* One message on the notes pipe; small enough to be written atomically. */
struct slot_msg {
	uint16_t slot;
	uint8_t note;
};

/* The table, zeroed, shared with every process forked after it; NULL on failure. */
struct slot_shared *slots_map(void);

/* CLOCK_MONOTONIC in milliseconds: the same clock in every process. */
long long slots_now_ms(void);
