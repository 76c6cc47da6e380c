/* `wsginit --probe URL`: a health check for images without a shell or curl
 * (Docker HEALTHCHECK, compose): GET URL, exit 0 on a 2xx answer, else 1. */
#pragma once

/* Probes http://host:port/path (or http://[v6]:port/path) within 5 s. */
int probe_run(const char *url);
