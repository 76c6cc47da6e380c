/* The listening sockets, bound by the master before anything else runs. */
#pragma once
#include "config.h"

#include <stdbool.h>

struct listener {
	int fd;
	bool unix_socket;
	char host[64]; /* SERVER_NAME / SERVER_PORT when a request has no Host */
	char port[8];
	const char *text;
};

/* Binds every address of BIND (backlog 2048, TCP_NODELAY, non-blocking);
 * returns how many, or -1 after logging the address that failed. */
int listen_open(const struct config *cfg, struct listener *out);
