/* The seccomp filter every worker installs after importing the app. */
#pragma once
#include "config.h"

/* Loads the SECCOMP profile into the calling process (all its threads);
 * -1 after logging when it cannot. */
int seccomp_apply(enum seccomp_mode mode);

/* One line naming the profile, for the start-up log. */
const char *seccomp_describe(enum seccomp_mode mode);
