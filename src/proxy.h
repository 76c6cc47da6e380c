/* Proxy headers (X-Forwarded-*, RFC 7239 Forwarded, X-Forwarded-Prefix),
 * believed only when the peer is in FORWARDED_ALLOW_IPS. */
#pragma once
#include "config.h"
#include "http.h"

#include <netinet/in.h>
#include <stdbool.h>

struct proxy_view {
	char remote[INET6_ADDRSTRLEN]; /* REMOTE_ADDR: the peer, or the nearest untrusted hop */
	bool https;                    /* wsgi.url_scheme */
	struct http_slice prefix;      /* SCRIPT_NAME from the proxy; len 0 when none */
};

/* Fills *out for the request in buf from peer (whose text is peer_text). */
void proxy_apply(const struct config *cfg, const struct sockaddr *peer, const char *peer_text,
		 const char *buf, const struct http_request *req, struct proxy_view *out);
