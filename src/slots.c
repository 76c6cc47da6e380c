#include "slots.h"

#include <sys/mman.h>
#include <time.h>

struct slot_shared *slots_map(void)
{
	void *p = mmap(NULL, SLOTS_MAX * sizeof(struct slot_shared), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

long long slots_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
