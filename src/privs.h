/* Dropping root before any app code runs (h2o's h2o_setuidgid order). */
#pragma once
#include "config.h"

/* As root: the bounding set, then setgroups, setgid, setuid to RUN_AS; then
 * every capability cleared and PR_SET_NO_NEW_PRIVS. As another user: the
 * capabilities cleared and NO_NEW_PRIVS. Logs the result; -1 on failure. */
int privs_drop(const struct config *cfg);
