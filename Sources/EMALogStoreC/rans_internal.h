// Shared by the rANS residual coder's files (rans.c: tables, encoder, version 2 decoder;
// rans_v1.c: the version 1 decoder; rans_avx512.c: the version 2 decoder's vector loop).
#ifndef EMALOG_RANS_INTERNAL_H
#define EMALOG_RANS_INTERNAL_H
#include "EMALogStoreC.h"
#include <string.h>

// Bit-exact float arithmetic in every build: no contraction into fused multiply-adds.
#pragma clang fp contract(off)

typedef uint16_t __attribute__((aligned(1))) u16a;
typedef uint32_t __attribute__((aligned(1))) u32a;

enum { SCALE_BITS = 12, SCALE = 1 << SCALE_BITS, MAX_CONTEXTS = 64, MAX_SYMBOLS = 132 };
enum { POISON = 0xFF }; // the symbol of every slot of a context without a table

// ---- Prediction and symbols -------------------------------------------------------------------

static inline int width_of(int kind) { return kind == EMALOG_RANS_F32 ? 32 : 16; }

static inline uint32_t exponent_of(int kind, uint32_t bits) {
    switch (kind) {
    case EMALOG_RANS_F32: return (bits >> 23) & 0xFF;
    case EMALOG_RANS_BF16: return (bits >> 7) & 0xFF;
    default: return (bits >> 10) & 0x1F;
    }
}

static inline float f32_of(uint32_t bits) { float f; memcpy(&f, &bits, 4); return f; }
static inline uint32_t bits_of(float f) { uint32_t b; memcpy(&b, &f, 4); return b; }

// Selects without a branch (p1 = p2 is common in BF16, where small updates round away, and
// unpredictable): an all-ones mask when `c`.
static inline uint32_t select_u32(int c, uint32_t yes, uint32_t no) {
    uint32_t m = 0u - (uint32_t)(c != 0);
    return (yes & m) | (no & ~m);
}

// p1 + (p1 - p2) in the value's own arithmetic (float for F32 and BF16, rounded to nearest even
// back to BF16), integer for F16; a NaN prediction is the canonical quiet NaN, so the result does
// not depend on how a CPU propagates NaN payloads. p1 alone when there is no p2 or p1 = p2 bit for
// bit (a constant -0, infinity or NaN stays free).
static inline __attribute__((always_inline)) uint32_t predict_with(int kind, const void *p1, const void *p2, size_t i, const int has_p2) {
    if (kind == EMALOG_RANS_F32) {
        uint32_t a = ((const u32a *)p1)[i];
        if (!has_p2) return a;
        uint32_t b = ((const u32a *)p2)[i];
        float f1 = f32_of(a), f2 = f32_of(b);
        float p = f1 + (f1 - f2);
        return select_u32(a == b, a, select_u32(p != p, 0x7FC00000u, bits_of(p)));
    }
    uint32_t a = ((const u16a *)p1)[i];
    if (!has_p2) return a;
    uint32_t b = ((const u16a *)p2)[i];
    if (kind == EMALOG_RANS_F16) return (2 * a - b) & 0xFFFF;
    float f1 = f32_of(a << 16), f2 = f32_of(b << 16);
    float p = f1 + (f1 - f2);
    uint32_t w = bits_of(p);
    uint32_t rounded = (w + 0x7FFF + ((w >> 16) & 1)) >> 16;
    return select_u32(a == b, a, select_u32(p != p, 0x7FC0, rounded));
}

static inline uint32_t load(int kind, const void *x, size_t i) {
    return kind == EMALOG_RANS_F32 ? ((const u32a *)x)[i] : ((const u16a *)x)[i];
}

static inline void store(int kind, void *x, size_t i, uint32_t v) {
    if (kind == EMALOG_RANS_F32) ((u32a *)x)[i] = v;
    else ((u16a *)x)[i] = (uint16_t)v;
}

// A magnitude u > 0 of bit length k: symbol 4k + t, t the (up to two) bits after the leading one;
// `low` bits below them are stored raw. u = 0 is symbol 0.
// For decoding: u = base | low bits, `bits` raw bits read (low bits, then the sign above them).
typedef struct { uint32_t base, low_mask; uint8_t low, bits, valid; } SymbolShape;

static inline SymbolShape shape_of(int symbol, int width) {
    SymbolShape s = {0, 0, 0, 0, 0};
    int k = symbol >> 2, t = symbol & 3;
    if (k == 0) { s.valid = t == 0; return s; }
    if (k > width) return s;
    int extra = k - 1 < 2 ? k - 1 : 2;
    if (t >= (1 << extra)) return s;
    s.low = (uint8_t)(k - 1 - extra);
    s.low_mask = (1u << s.low) - 1;
    s.bits = (uint8_t)(s.low + 1);
    s.base = (1u << (k - 1)) | ((uint32_t)t << s.low);
    s.valid = 1;
    return s;
}

// Up to 57 raw bits at bit `position` of a stream of `size` bytes: one unaligned load on the fast
// path (8 readable bytes there), byte by byte (zeros past the end) when `safe`.
static inline __attribute__((always_inline)) uint64_t peek_raw(const uint8_t *raw, uint64_t size, uint64_t position, const int safe) {
    uint64_t word = 0, at = position >> 3;
    if (!safe) memcpy(&word, raw + at, 8);
    else for (int b = 0; b < 8 && at + b < size; b++) word |= (uint64_t)raw[at + b] << (8 * b);
    return word >> (position & 7);
}

// ---- Raw bit stream -------------------------------------------------------------------------

// Branch-free: every put stores 8 bytes at p (the buffer has 8 bytes of slack) and moves p by the
// whole bytes written.
typedef struct { uint8_t *p; uint64_t acc; int count; } BitWriter;

static inline __attribute__((always_inline)) void bits_put(BitWriter *w, uint32_t v, int n) {
    w->acc |= (uint64_t)v << w->count;
    w->count += n;
    memcpy(w->p, &w->acc, 8);
    w->p += w->count >> 3;
    w->acc >>= w->count & ~7;
    w->count &= 7;
}

// The same for n <= 56 bits of a 64-bit value (count + n stays below 64).
static inline __attribute__((always_inline)) void bits_put64(BitWriter *w, uint64_t v, int n) {
    w->acc |= v << w->count;
    w->count += n;
    memcpy(w->p, &w->acc, 8);
    w->p += w->count >> 3;
    w->acc >>= w->count & ~7;
    w->count &= 7;
}

static inline void bits_flush(BitWriter *w) {
    if (w->count > 0) *w->p++ = (uint8_t)w->acc;
    w->count = 0;
}

// ---- Segments -----------------------------------------------------------------------------

// A chunk of SEGMENT_MIN elements or more is coded as two contiguous halves under one set of
// tables, each with its own streams, so two threads can encode or decode one chunk.
enum { SEGMENT_MIN = 1 << 16, MAX_SEGMENTS = 2 };

static inline int segments_of(size_t n) { return n >= SEGMENT_MIN ? 2 : 1; }
static inline size_t segment_start(size_t n, int segment) { return segment == 0 ? 0 : n / 2; }
static inline size_t segment_end(size_t n, int segment) { return segment == segments_of(n) - 1 ? n : n / 2; }

/// Runs `work` on each of `count` jobs (an array of `size`-byte elements), the later ones on
/// helper threads when `threads` allows (else, or when a thread cannot start, on this one).
void emalog_run_jobs(void *(*work)(void *), void *jobs, size_t size, int count, int threads);

// ---- Tables -------------------------------------------------------------------------------

// One slot of a context's decoding table: (freq - 1) << 20 | (slot - start) << 8 | symbol.
static inline uint32_t slot_entry(uint32_t freq, uint32_t offset, uint32_t symbol) {
    return (freq - 1) << 20 | offset << 8 | symbol;
}

/// The decoding model of a payload's header (version, kind, contexts, tables; same layout in
/// every version).
typedef struct {
    uint32_t *slots;          // context_count × SCALE slot entries (malloc'd; emalog_rans_free_model)
    uint32_t map_base[256];   // exponent -> its context's first slot
    SymbolShape shapes[256];
    const uint8_t *streams;   // the payload past the tables
} RansModel;

/// 0, or a negative status when the header is malformed.
int emalog_rans_read_model(const uint8_t *payload, size_t size, int kind, RansModel *m);
void emalog_rans_free_model(RansModel *m);

/// The table of `count` u32 stream lengths at *h (moved past it) that must add up to the rest of the
/// payload: 0, -1 when the table is cut, -5 when the lengths do not add up.
static inline int read_lengths(const uint8_t **h, const uint8_t *end, int count, uint32_t *lengths) {
    if ((size_t)(end - *h) < count * sizeof(uint32_t)) return -1;
    memcpy(lengths, *h, count * sizeof(uint32_t));
    *h += count * sizeof(uint32_t);
    uint64_t total = 0;
    for (int k = 0; k < count; k++) total += lengths[k];
    return total == (uint64_t)(end - *h) ? 0 : -5;
}

/// The version 1 layout's streams (two lanes per segment, byte-wise renormalisation).
int emalog_rans_decode_v1(const RansModel *m, const uint8_t *end, const void *p1, const void *p2, void *out,
                          size_t n, int kind, int threads);

// ---- Version 2 decoding state (shared with the vector loop) --------------------------------

enum { LANES2 = 16 };
#define RANS2_L (1u << 16)

typedef struct {
    const RansModel *m;
    const uint8_t *words, *words_end;  // rANS: u16 words
    const uint8_t *raw;                // raw bits
    uint64_t raw_size, position;       // bytes; bits
    uint32_t state[LANES2];
    const uint8_t *p1, *p2;            // at the segment's first element
    uint8_t *out;
    size_t n, done;                    // elements; elements decoded so far
    int kind, vectors;                 // vectors: 2 run the AVX-512 loop first, 1 the AVX2 one
    uint32_t poisoned, overrun;
} Decode2Job;

/// Whole groups of 16 a vector loop may decode from where `j` stands with no bounds check: a group
/// takes at most 16 words (32 bytes; the loops load 32) and 16 × 30 raw bits (60 bytes; the loops
/// read at most 128 bytes from the position's byte). 0 when positions would not fit 32-bit lanes
/// (real chunks stay far below: 64 MiB of elements).
static inline size_t vector_room(const Decode2Job *j) {
    if (j->raw_size >= (1u << 28)) return 0;
    size_t room = (j->n - j->done) / LANES2;
    size_t words = (size_t)(j->words_end - j->words) / 32;
    uint64_t need = (j->position >> 3) + 128;
    size_t bits = j->raw_size > need ? (size_t)((j->raw_size - need) / 64) : 0;
    if (words < room) room = words;
    if (bits < room) room = bits;
    return room;
}

/// Decodes whole groups of 16 while every read stays in bounds without checks; advances `done`.
/// Call only where emalog_rans2_avx512_available().
int emalog_rans2_decode_avx512(Decode2Job *j);
/// The same loop in AVX2 (two vectors of 8 lanes per group); only where emalog_rans2_avx2_available().
int emalog_rans2_decode_avx2(Decode2Job *j);
int emalog_rans2_avx2_available(void);

/// The encoder's rANS pass over `groups` whole groups of 16, from the last down to the first, as
/// encode_one in rans.c: each lane's state in `state`, words stored below *q (moved down).
/// packed[context × MAX_SYMBOLS + symbol] = freq << 12 | start; inverse[f] >= 1 / f, the nearest.
void emalog_rans2_encode_avx512(const uint8_t *symbols, const uint8_t *contexts, size_t groups, const uint32_t *packed,
                                const double *inverse, uint32_t *state, uint8_t **q);

/// The same first pass in AVX2 (groups of 8); only where emalog_rans2_avx2_available().
size_t emalog_rans2_classify_avx2(const uint8_t *x, const uint8_t *p1, const uint8_t *p2, size_t n, int kind,
                                  const uint8_t *map, uint8_t *symbols, uint8_t *contexts, BitWriter *w);

/// The encoder's first pass over whole groups of 16 from element 0, as classify_one in rans.c:
/// each element's symbol and context, its raw bits appended to `w`. Returns the elements done
/// (the caller classifies the rest and counts the symbols). Only where emalog_rans2_avx512_available().
size_t emalog_rans2_classify_avx512(const uint8_t *x, const uint8_t *p1, const uint8_t *p2, size_t n, int kind,
                                    const uint8_t *map, uint8_t *symbols, uint8_t *contexts, BitWriter *w);
int emalog_rans2_avx512_available(void);

#endif
