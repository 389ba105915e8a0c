#!/usr/bin/env python3
"""An independent decoder of emalog's rANS residual payloads (`delta1-rans`/`delta2-rans`, F32,
BF16 and F16; payload versions 1 and 2), written from the format description in
Sources/EMALogStoreC/include/EMALogStoreC.h, not from the C code. It reads the chunks of a log with
Python's sqlite3, decodes the first `--limit` elements of every stream (version 1: each lane;
version 2: each segment) of every residual chunk of the first `--steps-count` steps (a full decode
of streams shorter than that, with its end-of-stream checks), and compares them with the step files.

    python Tests/Fixtures/crosscheck/decode_rans.py LOG STEPS_FOLDER [--steps-count 40] [--limit 4000]

The output of a run is committed beside this script (decode_rans.out.txt).
"""
import argparse
import glob
import json
import sqlite3
import struct

import numpy as np

RANS_L = 1 << 23     # version 1: byte-wise renormalisation
RANS2_L = 1 << 16    # version 2: 16-bit words
LANES2 = 16
SCALE_BITS = 12


def shape(symbol):
    """(base, low) of a magnitude-class symbol 4k + t."""
    k, t = symbol >> 2, symbol & 3
    if k == 0:
        return 0, 0
    extra = min(2, k - 1)
    low = k - 1 - extra
    return (1 << (k - 1)) | (t << low), low


def f32(bits):
    return np.array([bits], dtype=np.uint32).view(np.float32)[0]


def predict(kind, a, b):
    """p1 + (p1 - p2) in the values' own arithmetic; p1 alone without p2 or when p1 == p2."""
    if b is None or a == b:
        return a
    if kind == 3:
        return (2 * a - b) & 0xFFFF
    if kind == 1:
        p = np.float32(f32(a) + np.float32(f32(a) - f32(b)))
        return 0x7FC00000 if p != p else int(np.array([p], np.float32).view(np.uint32)[0])
    p = np.float32(f32(a << 16) + np.float32(f32(a << 16) - f32(b << 16)))
    if p != p:
        return 0x7FC0
    w = int(np.array([p], np.float32).view(np.uint32)[0])
    return (w + 0x7FFF + ((w >> 16) & 1)) >> 16


def read_tables(payload):
    """Context map, decoding slots per context, offset past the tables (same in both versions)."""
    contexts, mapped = payload[2], payload[3]
    at = 4
    cmap = [0] * 256
    for _ in range(mapped):
        cmap[payload[at]] = payload[at + 1]
        at += 2
    tables = []
    for _ in range(contexts):
        nsym = payload[at]
        at += 1
        slots, start = [None] * (1 << SCALE_BITS), 0
        for _ in range(nsym):
            sym, freq = payload[at], payload[at + 1] | payload[at + 2] << 8
            at += 3
            for k in range(freq):
                slots[start + k] = (sym, freq, k)
            start += freq
        tables.append(slots)
    return cmap, tables, at


def element(kind, sym, bits, position, prev, prev2):
    """The value from its symbol and the raw bits at `position`; the new position."""
    width = 32 if kind == 1 else 16
    u, sign = 0, 0
    if sym:
        base, low = shape(sym)
        v = (bits >> position) & ((1 << (low + 1)) - 1)
        position += low + 1
        u, sign = base | (v & ((1 << low) - 1)), v >> low
    r = (-u if sign else u) & ((1 << width) - 1)
    return (predict(kind, prev, prev2) + r) & ((1 << width) - 1), position


def context_of(kind, cmap, prev):
    if kind == 1:
        return cmap[(prev >> 23) & 0xFF]
    if kind == 2:
        return cmap[(prev >> 7) & 0xFF]
    return cmap[(prev >> 10) & 0x1F]


def decode(payload, p1, p2, n, limit):
    kind = payload[1]
    cmap, tables, at = read_tables(payload)
    segments = 2 if n >= 65536 else 1
    bounds = [(0, n)] if segments == 1 else [(0, n // 2), (n // 2, n)]
    out = {}
    if payload[0] == 2:
        # G rANS byte counts, G raw byte counts, the G rANS streams (16 states, then u16 words in
        # the order they are read: element order), the G raw streams (element order).
        lengths = struct.unpack_from("<%dI" % (2 * segments), payload, at)
        at += 8 * segments
        rans_at, raw_at = [], []
        for g in range(segments):
            rans_at.append(at)
            at += lengths[g]
        for g in range(segments):
            raw_at.append(at)
            at += lengths[segments + g]
        assert at == len(payload), "stream lengths do not add up"
        for g, (lo, hi) in enumerate(bounds):
            p, end = rans_at[g], rans_at[g] + lengths[g]
            states = list(struct.unpack_from("<%dI" % LANES2, payload, p))
            p += 4 * LANES2
            bits = int.from_bytes(payload[raw_at[g]:raw_at[g] + lengths[segments + g]], "little")
            position = 0
            full = hi - lo <= limit
            for i in range(lo, min(hi, lo + limit)):
                lane = (i - lo) % LANES2
                prev = int(p1[i])
                x = states[lane]
                sym, freq, offset = tables[context_of(kind, cmap, prev)][x & ((1 << SCALE_BITS) - 1)]
                x = freq * (x >> SCALE_BITS) + offset
                if x < RANS2_L:
                    x = (x << 16) | struct.unpack_from("<H", payload, p)[0]
                    p += 2
                states[lane] = x
                out[i], position = element(kind, sym, bits, position, prev, None if p2 is None else int(p2[i]))
            if full:
                assert p == end and all(x == RANS2_L for x in states), "segment %d does not end where it should" % g
                assert lengths[segments + g] * 8 - position < 8, "raw stream %d has unused bytes" % g
        return out
    assert payload[0] == 1, "unknown payload version %d" % payload[0]
    streams = 2 * segments
    lengths = struct.unpack_from("<%dI" % (2 * streams), payload, at)
    at += 8 * streams
    rans_at, raw_at = [], []
    for t in range(streams):
        rans_at.append(at)
        at += lengths[t]
    for t in range(streams):
        raw_at.append(at)
        at += lengths[streams + t]
    assert at == len(payload), "stream lengths do not add up"
    for t in range(streams):
        lo, hi = bounds[t // 2]
        indices = list(range(lo + t % 2, hi, 2))
        full = len(indices) <= limit
        p = rans_at[t]
        end = p + lengths[t]
        x = struct.unpack_from("<I", payload, p)[0]
        p += 4
        bits = int.from_bytes(payload[raw_at[t]:raw_at[t] + lengths[streams + t]], "little")
        position = 0
        for i in indices[:limit]:
            prev = int(p1[i])
            sym, freq, offset = tables[context_of(kind, cmap, prev)][x & ((1 << SCALE_BITS) - 1)]
            x = freq * (x >> SCALE_BITS) + offset
            while x < RANS_L:
                x = (x << 8) | payload[p]
                p += 1
            out[i], position = element(kind, sym, bits, position, prev, None if p2 is None else int(p2[i]))
        if full:
            assert p == end and x == RANS_L, "stream %d does not end where it should" % t
            assert lengths[streams + t] * 8 - position < 8, "raw stream %d has unused bytes" % t
    return out


def load(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    header = json.loads(b[8:8 + n])
    header.pop("__metadata__", None)
    return {k: np.frombuffer(b[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]],
                             np.uint32 if v["dtype"] == "F32" else np.uint16) for k, v in header.items()
            if v["dtype"] in ("F32", "BF16", "F16")}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("log")
    ap.add_argument("steps")
    ap.add_argument("--steps-count", dest="count", type=int, default=40)
    ap.add_argument("--limit", type=int, default=4000)
    args = ap.parse_args()
    files = sorted(glob.glob(args.steps + "/*.safetensors"))[:args.count]
    sources = [load(f) for f in files]
    db = sqlite3.connect(args.log)
    names = dict(db.execute("SELECT id, name FROM tensors"))
    chunk_bytes = int(db.execute("SELECT value FROM log_info WHERE key = 'chunk_bytes'").fetchone()[0])
    checked = elements = 0
    versions = set()
    for s, source in enumerate(sources, start=1):
        for tensor_id, index, codec, payload in db.execute(
                "SELECT tensor_id, chunk_index, codec, data FROM chunks WHERE step = ? AND codec LIKE '%-rans'", (s,)):
            name = names[tensor_id]
            values = source[name]
            per = chunk_bytes // values.itemsize
            lo = index * per
            cur = values[lo:lo + per]
            p1 = sources[s - 2][name][lo:lo + per]
            p2 = sources[s - 3][name][lo:lo + per] if codec == "delta2-rans" else None
            got = decode(bytes(payload), p1, p2, len(cur), args.limit)
            versions.add(payload[0])
            for i, v in got.items():
                assert v == int(cur[i]), "%s step %d element %d: %x != %x" % (name, s, i, v, int(cur[i]))
            checked += 1
            elements += len(got)
    print("%d rANS chunks (payload versions %s), %d elements decoded independently, all equal to the step files"
          % (checked, sorted(versions), elements))


if __name__ == "__main__":
    main()
