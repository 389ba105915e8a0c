#ifndef EMALOG_CORE_C_H
#define EMALOG_CORE_C_H

#include <stddef.h>

/// Guards read-only file mappings against SIGBUS: a file truncated while it is mapped makes every
/// read of a page past its new end raise SIGBUS, which would kill the process.
///
/// `emalog_mapping_guard_register` installs (once) a SIGBUS handler and records a mapping. When a
/// read faults inside a recorded mapping, the handler maps anonymous zero pages over the rest of
/// the mapping (from the faulting page to its end, in one mmap call, so a large truncated file costs
/// one signal, not one per page), sets the mapping's damaged flag and returns: the read goes on and
/// sees zeros. The owner checks the flag (`emalog_mapping_guard_damaged`) once it has read what it
/// needs and throws away what it read. A SIGBUS anywhere else is handed to the action that was in
/// place before (the default one kills the process, as without the guard).
///
/// Lookups in the handler are lock-free (a fixed table of slots read with atomic loads); the read
/// path itself pays nothing. Returns the slot (>= 0) or -1 when the table is full (the mapping is
/// then unguarded: a truncation kills the process as before).
int emalog_mapping_guard_register(const void *base, size_t length);

/// Forgets slot `slot` (from register; -1 is ignored). Call before unmapping.
void emalog_mapping_guard_unregister(int slot);

/// 1 when a read of slot `slot`'s mapping faulted (the file shrank under it), else 0.
int emalog_mapping_guard_damaged(int slot);

/// Makes glibc serve blocks up to 32 MiB from the heap (reused) instead of fresh mmap'd pages,
/// and hand the heap's top back only past 256 MiB free (see `ProcessTuning` in EMALogCore). No-op
/// elsewhere.
void emalog_tune_allocator(void);

/// A 64-bit load with acquire order and a store with release order, for words in memory another
/// process shares (the Python Logger's slot table: `SharedSlots` in EMALogCore). `address` is
/// 8-byte aligned.
unsigned long long emalog_load_acquire_u64(const void *address);
void emalog_store_release_u64(void *address, unsigned long long value);

/// memfd_create(2) with MFD_CLOEXEC, and MFD_ALLOW_SEALING when `sealable` (a memory file like the
/// Python Logger's shared memory; tests build one); -1 with errno where the system has none.
int emalog_memfd_create(const char *name, int sealable);

#endif
