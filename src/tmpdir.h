/* Temp space: where Python's tempfile, and the upload spooling of frameworks
 * built on it, write. A read-only root without a tmpfs there is reported at
 * start, not found at the first upload. */
#pragma once

/* Logs one warning when this process (run it as the workers' user) cannot
 * create files in TMPDIR, or /tmp when TMPDIR is unset or empty. */
void tmpdir_check(void);
