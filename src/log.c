/* The error log, in gunicorn's text format or as JSON lines. */
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static enum log_level min_level = LOG_INFO;
static bool json;

static const char *const names[] = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"};

void log_init(const struct config *cfg)
{
	min_level = cfg->log_level;
	json = cfg->log_json;
}

bool log_enabled(enum log_level level)
{
	return level >= min_level;
}

void line_add(struct line *l, const char *s, size_t n)
{
	size_t room = sizeof l->buf - 1 - l->len; /* one byte kept for the newline */
	if (n > room)
		n = room;
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

void line_addf(struct line *l, const char *fmt, ...)
{
	size_t room = sizeof l->buf - 1 - l->len;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(l->buf + l->len, room + 1, fmt, ap);
	va_end(ap);
	if (n > 0)
		l->len += (size_t)n < room ? (size_t)n : room;
}

void line_add_json(struct line *l, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			char esc[2] = {'\\', (char)c};
			line_add(l, esc, 2);
		} else if (c == '\n') {
			line_add(l, "\\n", 2);
		} else if (c < 0x20 || c == 0x7f) {
			line_addf(l, "\\u%04x", c);
		} else {
			line_add(l, (const char *)&c, 1);
		}
	}
}

void line_write(struct line *l, int fd)
{
	l->buf[l->len++] = '\n';
	ssize_t n;
	do
		n = write(fd, l->buf, l->len);
	while (n < 0 && errno == EINTR);
	l->len--;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	if (level < min_level)
		return;
	char msg[8192], when[40];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S +0000", &tm);
	struct line l = {0};
	if (json) {
		line_addf(&l, "{\"time\":\"%s\",\"level\":\"%s\",\"pid\":%d,\"message\":\"", when,
			  names[level], (int)getpid());
		line_add_json(&l, msg, strlen(msg));
		line_add(&l, "\"}", 2);
	} else {
		line_addf(&l, "[%s] [%d] [%s] %s", when, (int)getpid(), names[level], msg);
	}
	line_write(&l, 2);
}
