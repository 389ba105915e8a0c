// The version 1 payload's streams (written by emalog before the 16-lane layout; kept so those logs
// stay readable): per segment two interleaved lanes, each with its own rANS stream (32-bit state,
// byte-wise renormalisation from 2^23) and its own raw-bit stream. Only a decoder remains.
#include "rans_internal.h"
#include <stdlib.h>

// Bit-exact float arithmetic in every build: no contraction into fused multiply-adds.
#pragma clang fp contract(off)

#define RANS_L (1u << 23)
enum { LANES = 2, MAX_STREAMS = MAX_SEGMENTS * LANES };

typedef struct {
    const uint8_t *p, *end;       // rANS bytes
    const uint8_t *raw;           // raw bits
    uint64_t raw_size, position;  // in bytes; position in bits
    uint32_t state;
} Lane;

typedef struct {
    const uint32_t *map_base, *slots;
    const SymbolShape *shapes;
    uint32_t poisoned, overrun;
} Model;

// Element i of lane l: the symbol from the context of p1's exponent, the state advanced and
// renormalised (at most two bytes at 12-bit probabilities), then the raw bits.
static inline __attribute__((always_inline)) void decode_one(Model *m, Lane *l, const void *p1, const void *p2,
                                                             void *out, size_t i, const int kind, const int safe,
                                                             const int has_p2) {
    uint32_t x = l->state;
    uint32_t entry = m->slots[m->map_base[exponent_of(kind, load(kind, p1, i))] + (x & (SCALE - 1))];
    uint32_t symbol = entry & 0xFF;
    m->poisoned |= symbol == POISON;
    x = ((entry >> 20) + 1) * (x >> SCALE_BITS) + ((entry >> 8) & 0xFFF);
    for (int k = 0; k < 2; k++) {
        uint32_t more = x < RANS_L;
        uint32_t byte = 0;
        if (!safe) byte = *l->p;
        else if (l->p < l->end) byte = *l->p;
        else m->overrun |= more;
        x = more ? (x << 8) | byte : x;
        l->p += safe ? (more && l->p < l->end) : more;
    }
    l->state = x;
    SymbolShape sh = m->shapes[symbol];
    uint64_t v = peek_raw(l->raw, l->raw_size, l->position, safe) & ((1ull << sh.bits) - 1);
    l->position += sh.bits;
    uint32_t u = sh.base | ((uint32_t)v & sh.low_mask);
    uint32_t r = (uint32_t)(v >> sh.low) ? (0u - u) : u;
    uint32_t mask = kind == EMALOG_RANS_F32 ? 0xFFFFFFFFu : 0xFFFFu;
    store(kind, out, i, (predict_with(kind, p1, p2, i, has_p2) + r) & mask);
}

// Each element takes at most 2 rANS bytes and 31 raw bits, so `room` pairs can run without a
// bounds check (the raw peek reads 8 bytes); lanes and flags live in locals (registers).
static inline __attribute__((always_inline)) void decode_all(Model *model, Lane *lanes, const void *p1, const void *p2,
                                                             void *out, size_t n, const int kind, const int has_p2) {
    Lane a = lanes[0], b = lanes[1];
    Model m = *model;
    size_t i = 0;
    for (;;) {
        size_t room = (n - i) / 2;
        size_t ra = (size_t)(a.end - a.p) / 2, rb = (size_t)(b.end - b.p) / 2;
        uint64_t ba = (a.position >> 3) + 8, bb = (b.position >> 3) + 8;
        size_t wa = a.raw_size > ba ? (size_t)((a.raw_size - ba) / 4) : 0;
        size_t wb = b.raw_size > bb ? (size_t)((b.raw_size - bb) / 4) : 0;
        if (ra < room) room = ra;
        if (rb < room) room = rb;
        if (wa < room) room = wa;
        if (wb < room) room = wb;
        if (room == 0) break;
        for (size_t k = 0; k < room; k++, i += 2) {
            decode_one(&m, &a, p1, p2, out, i, kind, 0, has_p2);
            decode_one(&m, &b, p1, p2, out, i + 1, kind, 0, has_p2);
        }
    }
    for (; i < n; i++) decode_one(&m, (i & 1) ? &b : &a, p1, p2, out, i, kind, 1, has_p2);
    lanes[0] = a;
    lanes[1] = b;
    *model = m;
}

// One segment's decode, run on the calling thread or a helper thread.
typedef struct {
    Model m;
    Lane lanes[LANES];
    const uint8_t *p1, *p2;
    uint8_t *out;
    size_t n;
    int kind;
} DecodeJob;

static void *decode_job(void *arg) {
    DecodeJob *j = arg;
    switch (j->kind * 2 + (j->p2 != 0)) {
    case EMALOG_RANS_F32 * 2: decode_all(&j->m, j->lanes, j->p1, j->p2, j->out, j->n, EMALOG_RANS_F32, 0); break;
    case EMALOG_RANS_F32 * 2 + 1: decode_all(&j->m, j->lanes, j->p1, j->p2, j->out, j->n, EMALOG_RANS_F32, 1); break;
    case EMALOG_RANS_BF16 * 2: decode_all(&j->m, j->lanes, j->p1, j->p2, j->out, j->n, EMALOG_RANS_BF16, 0); break;
    case EMALOG_RANS_BF16 * 2 + 1: decode_all(&j->m, j->lanes, j->p1, j->p2, j->out, j->n, EMALOG_RANS_BF16, 1); break;
    case EMALOG_RANS_F16 * 2: decode_all(&j->m, j->lanes, j->p1, j->p2, j->out, j->n, EMALOG_RANS_F16, 0); break;
    default: decode_all(&j->m, j->lanes, j->p1, j->p2, j->out, j->n, EMALOG_RANS_F16, 1); break;
    }
    return NULL;
}

// Streams: T = 2 × segments; T × u32 rANS bytes, T × u32 raw bytes, the T rANS streams (each its
// final state, then bytes), the T raw streams. Stream t = 2 × segment + lane.
int emalog_rans_decode_v1(const RansModel *model, const uint8_t *end, const void *p1, const void *p2, void *out,
                          size_t n, int kind, int threads) {
    const uint8_t *h = model->streams;
    const int segments = segments_of(n), streams = LANES * segments;
    uint32_t lengths[2 * MAX_STREAMS];
    int status = read_lengths(&h, end, 2 * streams, lengths);
    if (status) return status;
    for (int t = 0; t < streams; t++) if (lengths[t] < 4) return -5;

    DecodeJob jobs[MAX_SEGMENTS];
    const uint8_t *rans = h, *raw = h;
    for (int t = 0; t < streams; t++) raw += lengths[t];
    for (int t = 0; t < streams; t++) {
        Lane *lane = &jobs[t / LANES].lanes[t % LANES];
        lane->p = rans + 4;
        lane->end = rans + lengths[t];
        memcpy(&lane->state, rans, 4);
        rans += lengths[t];
        lane->raw = raw;
        lane->raw_size = lengths[streams + t];
        lane->position = 0;
        raw += lengths[streams + t];
    }
    const int bytes = width_of(kind) / 8;
    for (int g = 0; g < segments; g++) {
        size_t lo = segment_start(n, g);
        DecodeJob *j = &jobs[g];
        j->m = (Model){model->map_base, model->slots, model->shapes, 0, 0};
        j->p1 = (const uint8_t *)p1 + lo * bytes;
        j->p2 = p2 ? (const uint8_t *)p2 + lo * bytes : NULL;
        j->out = (uint8_t *)out + lo * bytes;
        j->n = segment_end(n, g) - lo;
        j->kind = kind;
    }
    emalog_run_jobs(decode_job, jobs, sizeof jobs[0], segments, threads);
    int overrun = 0;
    for (int g = 0; g < segments; g++) {
        if (jobs[g].m.poisoned) return -6;
        overrun |= jobs[g].m.overrun;
        for (int l = 0; l < LANES; l++) {
            const Lane *lane = &jobs[g].lanes[l];
            if (lane->p != lane->end || lane->state != RANS_L) return -7;
            // The raw bits used end in the stream's last byte (past them only that byte's padding).
            if (lane->position > 8 * lane->raw_size || 8 * lane->raw_size - lane->position >= 8) return -8;
        }
    }
    return overrun ? -7 : 0;
}
