/* `wsginit --probe [URL]`: a health check for images without a shell or curl
 * (Docker HEALTHCHECK, compose, Kubernetes exec probes). One GET, whose
 * connect, send and status line must all arrive within 5 s. */
#pragma once

/* Probes http://host:port/path (or http://[v6]:port/path): prints the status;
 * 0 on a 2xx answer, else 1 (the reason on stderr). */
int probe_run(const char *url);

/* Probes the server the environment describes: ADMIN_BIND's /readyz (2xx),
 * else HEALTH_PATH on the first BIND address (2xx), else any status line from
 * it; 0.0.0.0 and :: are probed on loopback. 0 healthy, 1 not, 2 on a bad
 * variable (config_load's line on stderr). */
int probe_config(void);
