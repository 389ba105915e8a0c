#define _GNU_SOURCE
#include <errno.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/mman.h>
#include <sys/syscall.h>
#endif
#include "EMALogCoreC.h"

unsigned long long emalog_load_acquire_u64(const void *address) {
    return __atomic_load_n((const unsigned long long *)address, __ATOMIC_ACQUIRE);
}

void emalog_store_release_u64(void *address, unsigned long long value) {
    __atomic_store_n((unsigned long long *)address, value, __ATOMIC_RELEASE);
}

int emalog_memfd_create(const char *name, int sealable) {
#if defined(__linux__) && defined(SYS_memfd_create)
    return (int)syscall(SYS_memfd_create, name, 1u /* MFD_CLOEXEC */ | (sealable ? 2u /* MFD_ALLOW_SEALING */ : 0u));
#else
    (void)name; (void)sealable;
    errno = ENOSYS;
    return -1;
#endif
}
