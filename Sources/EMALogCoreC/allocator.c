#include "EMALogCoreC.h"

#include <stdlib.h> // defines __GLIBC__ where the C library is glibc

#if defined(__GLIBC__)
#include <malloc.h>

void emalog_tune_allocator(void) {
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
}
#else
void emalog_tune_allocator(void) {}
#endif
