/* Temp space: where Python's tempfile, and the upload spooling of frameworks
 * built on it, write. A read-only root without a tmpfs there is reported at
 * start, not found at the first upload. */
#pragma once

/* Logs one warning when this process (run it as the workers' user) cannot
 * create files in the temp directory meant (TMPDIR, TEMP or TMP, else /tmp),
 * saying where Python's tempfile falls back to, if anywhere. */
void tmpdir_check(void);
