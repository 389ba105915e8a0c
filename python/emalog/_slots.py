"""The shared memory a Logger hands its steps to emalog in: a sealed memory file (memfd) with a slot
table and a ring of slots, each one step's safetensors frame, which emalog reads in place.

Layout (emalog's `SharedSlots`): bytes 0..4096 are the table: b"EMALOGSL", a u64 version (1), then
from byte 64 one 64-byte entry per slot: a u64 `filled` (the generation written last into the
slot, stored once its frame is whole) and a u64 `released` (the generation emalog no longer reads).
A slot is written only when `released == filled`; the pipe then carries a `Z` record naming it. The
file is sealed against shrinking (emalog refuses it otherwise) and disappears with the last of the
two processes holding it: a killed trainer or emalog leaves no shared memory behind.
"""
import fcntl
import mmap
import os
import struct
import time

TABLE = 4096
ENTRY = 64
MAX_SLOTS = TABLE // ENTRY - 1
MAGIC = b"EMALOGSL"
VERSION = 1
PAGE = mmap.PAGESIZE


def available():
    """Whether this system has sealed memory files (Linux)."""
    return hasattr(os, "memfd_create") and hasattr(fcntl, "F_ADD_SEALS")


class Slot:
    """One slot: where it lives in the file and its mapping (writable, `capacity` bytes)."""

    def __init__(self, index, offset, capacity, memory):
        self.index, self.offset, self.capacity, self.memory = index, offset, capacity, memory
        self.pinned = 0  # the address registered with CUDA as page-locked (a GPU model's non-blocking copies)
        self.busy = False  # taken by a step not yet handed to emalog


class SlotRing:
    """The memory file and its slots, grown on demand up to `max_slots` (each as large as the step
    that first needed it); `fd` is passed to `emalog ingest - --shared-memory-fd FD`."""

    def __init__(self, max_slots):
        # emalog holds a step and the one or two before it (residuals) while it waits for the next
        # record: three slots always leave one to write.
        self.max_slots = max(3, min(MAX_SLOTS, int(max_slots)))
        self.fd = os.memfd_create("emalog-slots", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        os.ftruncate(self.fd, TABLE)
        fcntl.fcntl(self.fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK)
        self.table = mmap.mmap(self.fd, TABLE)
        self.table[0:8] = MAGIC
        struct.pack_into("<Q", self.table, 8, VERSION)
        self.size = TABLE
        self.slots = []
        self.generation = 0

    def _word(self, index, at):
        return struct.unpack_from("<Q", self.table, ENTRY * (index + 1) + at)[0]

    def is_free(self, slot):
        """No step is being written into the slot and emalog no longer reads it (or never did)."""
        return not slot.busy and self._word(slot.index, 8) == self._word(slot.index, 0)

    def bytes_held(self):
        """The slots' memory, in bytes."""
        return sum(slot.capacity for slot in self.slots)

    def acquire(self, nbytes, check):
        """A free slot of at least `nbytes`: a free one, else a new one while fewer than `max_slots`,
        else the first to be freed (waiting; `check()` is called while waiting, to raise when emalog
        has stopped). A slot too small for a step is replaced by a larger one at the file's end."""
        delay = 0.0001
        while True:
            slot = next((slot for slot in self.slots if slot.capacity >= nbytes and self.is_free(slot)), None)
            if slot is None and len(self.slots) < self.max_slots:
                slot = self._add(len(self.slots), nbytes)
            if slot is None:
                small = next((slot for slot in self.slots if self.is_free(slot)), None)
                if small is not None:  # every free slot is too small for this step
                    slot = self._add(small.index, nbytes)
            if slot is not None:
                slot.busy = True
                return slot
            check()
            time.sleep(delay)
            delay = min(delay * 2, 0.002)

    def _add(self, index, nbytes):
        capacity = -(-max(nbytes, 1) // PAGE) * PAGE
        offset = self.size
        os.ftruncate(self.fd, offset + capacity)  # grows only: the file is sealed against shrinking
        self.size = offset + capacity
        slot = Slot(index, offset, capacity, mmap.mmap(self.fd, capacity, offset=offset))
        if index < len(self.slots):
            _release(self.slots[index])
            self.slots[index] = slot
        else:
            self.slots.append(slot)
        return slot

    def publish(self, slot, nbytes):
        """Marks the slot's frame (`nbytes`, written) as a new generation; returns its `Z` record."""
        self.generation += 1
        struct.pack_into("<Q", self.table, ENTRY * (slot.index + 1), self.generation)
        slot.busy = False  # emalog holds it now, until `released` says otherwise
        return b"Z%d %d %d %d\n" % (slot.index, slot.offset, nbytes, self.generation)

    def close(self):
        for slot in self.slots:
            _release(slot)
        self.slots = []
        try:
            self.table.close()
        except BufferError:
            pass
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _release(slot):
    """Unmaps a slot (unregistered from CUDA first when it was page-locked)."""
    if slot.pinned:
        import torch
        torch.cuda.cudart().cudaHostUnregister(slot.pinned)
        slot.pinned = 0
    try:
        slot.memory.close()
    except BufferError:  # a tensor view still points into it: it goes with the view
        pass
