/* Process titles for ps (wsginit: master [APP], wsginit: worker N [APP]),
 * written over argv as gunicorn's setproctitle does. */
#pragma once

/* Moves the environment out of argv's way; call first thing in main(),
 * before anything keeps a getenv() pointer. */
void proctitle_init(int argc, char **argv);

/* Sets the title shown by ps (cut to the room argv and environ had). */
void proctitle_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
