// SIGBUS guard for read-only file mappings: see include/EMALogCoreC.h.
#define _GNU_SOURCE
#include "EMALogCoreC.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

enum { SLOT_COUNT = 256, FREE = 0, CLAIMED = 1, ACTIVE = 2 };

struct slot {
    _Atomic int state;  // FREE -> CLAIMED (owner fills in) -> ACTIVE -> FREE
    _Atomic uintptr_t base;
    _Atomic size_t length;
    _Atomic int damaged;
};

static struct slot slots[SLOT_COUNT];
static struct sigaction previous_action;
static uintptr_t page_size;
static pthread_once_t install_once = PTHREAD_ONCE_INIT;
static int installed;

// mmap is not on POSIX's list of async-signal-safe functions, but on Linux (glibc and musl) it is a
// bare system call; it is called only for a fault inside a guarded mapping, on the faulting thread.
static void on_sigbus(int signal_number, siginfo_t *info, void *context) {
    (void)context;
    if (info->si_code > 0) {  // raised by the kernel for a fault, not sent by kill or raise
        uintptr_t address = (uintptr_t)info->si_addr;
        for (int i = 0; i < SLOT_COUNT; i++) {
            if (atomic_load_explicit(&slots[i].state, memory_order_acquire) != ACTIVE) continue;
            uintptr_t base = atomic_load_explicit(&slots[i].base, memory_order_relaxed);
            size_t length = atomic_load_explicit(&slots[i].length, memory_order_relaxed);
            if (address < base || address - base >= length) continue;
            uintptr_t start = address & ~(page_size - 1);
            uintptr_t end = (base + length + page_size - 1) & ~(page_size - 1);
            void *zeros = mmap((void *)start, end - start, PROT_READ, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (zeros == MAP_FAILED) break;
            atomic_store_explicit(&slots[i].damaged, 1, memory_order_release);
            return;  // the faulting read runs again and sees zeros
        }
    }
    // Not ours: put back the previous action. A fault then recurs under it when the instruction
    // runs again; a signal sent by a process is sent again.
    sigaction(signal_number, &previous_action, NULL);
    if (info->si_code <= 0) raise(signal_number);
}

static void install(void) {
    page_size = (uintptr_t)sysconf(_SC_PAGESIZE);
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = on_sigbus;
    action.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&action.sa_mask);
    installed = sigaction(SIGBUS, &action, &previous_action) == 0;
}

int emalog_mapping_guard_register(const void *base, size_t length) {
    pthread_once(&install_once, install);
    if (!installed || base == NULL || length == 0) return -1;
    for (int i = 0; i < SLOT_COUNT; i++) {
        int expected = FREE;
        if (!atomic_compare_exchange_strong(&slots[i].state, &expected, CLAIMED)) continue;
        atomic_store_explicit(&slots[i].base, (uintptr_t)base, memory_order_relaxed);
        atomic_store_explicit(&slots[i].length, length, memory_order_relaxed);
        atomic_store_explicit(&slots[i].damaged, 0, memory_order_relaxed);
        atomic_store_explicit(&slots[i].state, ACTIVE, memory_order_release);
        return i;
    }
    return -1;
}

void emalog_mapping_guard_unregister(int slot) {
    if (slot < 0 || slot >= SLOT_COUNT) return;
    atomic_store_explicit(&slots[slot].state, FREE, memory_order_release);
}

int emalog_mapping_guard_damaged(int slot) {
    if (slot < 0 || slot >= SLOT_COUNT) return 0;
    return atomic_load_explicit(&slots[slot].damaged, memory_order_acquire);
}
