/* Error log (stderr) and the line builder both logs use: one write() a line. */
#pragma once
#include "config.h"

#include <stdarg.h>
#include <stddef.h>

struct line {
	size_t len;
	char buf[16384];
};

/* Sets the level and format; before it, everything is logged as text. */
void log_init(const struct config *cfg);

/* True when messages at this level are written. */
bool log_enabled(enum log_level level);

/* One error-log line: time, pid, level, message. */
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends to a line; output past the buffer is dropped, never overflows. */
void line_add(struct line *l, const char *s, size_t n);
void line_addf(struct line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s as the inside of a JSON string. */
void line_add_json(struct line *l, const char *s, size_t n);
/* Appends "\n" and writes the line to fd with a single write(). */
void line_write(struct line *l, int fd);
