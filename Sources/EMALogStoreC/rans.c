// Residual coding of float tensors between keyframes: a prediction from the previous one or two
// steps, the residual in sign-magnitude, its magnitude class (bit length and the next two bits)
// entropy-coded with static rANS in a context given by the exponent of the previous value, the
// remaining low bits and the sign stored raw. Payload layout: see EMALogStoreC.h.
//
// rANS after Fabian Giesen's public-domain rans_byte.h: 32-bit states, byte-wise renormalisation,
// 12-bit probabilities. Elements alternate between two lanes, each with its own rANS and raw-bit
// stream, so a decoder runs two independent dependency chains.
#include "EMALogStoreC.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef uint16_t __attribute__((aligned(1))) u16a;
typedef uint32_t __attribute__((aligned(1))) u32a;

enum { VERSION = 1, SCALE_BITS = 12, SCALE = 1 << SCALE_BITS, MAX_CONTEXTS = 64, MAX_SYMBOLS = 132 };
#define RANS_L (1u << 23)

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

// p1 + (p1 - p2) in the value's own arithmetic (float for F32 and BF16, rounded to nearest even
// back to BF16), integer for F16; a NaN prediction is the canonical quiet NaN, so the result does
// not depend on how a CPU propagates NaN payloads. p1 alone when there is no p2 or p1 = p2 bit for
// bit (a constant -0, infinity or NaN stays free).
// Selects without a branch (p1 = p2 is common in BF16, where small updates round away, and
// unpredictable): an all-ones mask when `c`.
static inline uint32_t select_u32(int c, uint32_t yes, uint32_t no) {
    uint32_t m = 0u - (uint32_t)(c != 0);
    return (yes & m) | (no & ~m);
}

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

static inline __attribute__((always_inline)) uint32_t predict(int kind, const void *p1, const void *p2, size_t i) {
    return predict_with(kind, p1, p2, i, p2 != 0);
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

static SymbolShape shape_of(int symbol, int width) {
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

// ---- Raw bit stream -------------------------------------------------------------------------

// Branch-free: every put stores 8 bytes at p (the buffer has 8 bytes of slack) and moves p by the
// whole bytes written.
typedef struct { uint8_t *p; uint64_t acc; int count; } BitWriter;

static inline void bits_put(BitWriter *w, uint32_t v, int n) {
    w->acc |= (uint64_t)v << w->count;
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

// ---- Model --------------------------------------------------------------------------------

typedef struct {
    uint32_t x_max, rcp_freq, bias;
    uint16_t cmpl_freq, rcp_shift;
} EncSymbol;

static void enc_symbol_init(EncSymbol *s, uint32_t start, uint32_t freq) {
    s->x_max = ((RANS_L >> SCALE_BITS) << 8) * freq;
    s->cmpl_freq = (uint16_t)(SCALE - freq);
    if (freq < 2) {
        s->rcp_freq = ~0u;
        s->rcp_shift = 0;
        s->bias = start + SCALE - 1;
    } else {
        uint32_t shift = 0;
        while (freq > (1u << shift)) shift++;
        s->rcp_freq = (uint32_t)(((1ull << (shift + 31)) + freq - 1) / freq);
        s->rcp_shift = (uint16_t)(shift - 1);
        s->bias = start;
    }
}

static inline void enc_put(uint32_t *state, uint8_t **pp, const EncSymbol *s) {
    uint32_t x = *state;
    uint8_t *p = *pp;
    // At most two bytes leave per symbol at 12-bit frequencies; written branch-free (the byte
    // below p is always inside the buffer).
    for (int k = 0; k < 2; k++) {
        uint32_t out = x >= s->x_max;
        p[-1] = (uint8_t)x;
        p -= out;
        x = out ? x >> 8 : x;
    }
    *pp = p;
    uint32_t q = (uint32_t)(((uint64_t)x * s->rcp_freq) >> 32) >> s->rcp_shift;
    *state = x + s->bias + q * s->cmpl_freq;
}

// Scales counts to frequencies summing to SCALE, every present symbol at least 1.
static void normalize(const uint32_t *count, uint32_t *freq, int symbols) {
    uint64_t total = 0;
    for (int s = 0; s < symbols; s++) total += count[s];
    if (total == 0) { memset(freq, 0, symbols * sizeof(uint32_t)); return; }
    int64_t sum = 0;
    for (int s = 0; s < symbols; s++) {
        if (!count[s]) { freq[s] = 0; continue; }
        uint64_t f = (count[s] * (uint64_t)SCALE + total / 2) / total;
        freq[s] = f ? (uint32_t)f : 1;
        sum += freq[s];
    }
    while (sum != SCALE) {
        // Adjust the largest frequency that can move: costs the least in coding length.
        int best = -1;
        for (int s = 0; s < symbols; s++)
            if (freq[s] && (sum < SCALE || freq[s] > 1) && (best < 0 || freq[s] > freq[best])) best = s;
        if (sum < SCALE) { freq[best]++; sum++; } else { freq[best]--; sum--; }
    }
}

// ---- Encoder ------------------------------------------------------------------------------

enum { LANES = 2 };

static inline __attribute__((always_inline)) void classify_one(const void *x, const void *p1, const void *p2, size_t i,
                                                               uint8_t *symbols, uint8_t *contexts,
                                                               uint32_t *exponent_count, BitWriter *w, const int kind) {
    const int width = width_of(kind);
    const uint32_t mask = width == 32 ? 0xFFFFFFFFu : 0xFFFFu;
    uint32_t r = (load(kind, x, i) - predict(kind, p1, p2, i)) & mask;
    uint32_t sign = r >> (width - 1);
    uint32_t u = sign ? ((0u - r) & mask) : r;
    uint32_t e = exponent_of(kind, load(kind, p1, i));
    exponent_count[e]++;
    contexts[i] = (uint8_t)e;
    int k = u ? 32 - __builtin_clz(u) : 0;
    int extra = k - 1 < 2 ? (k > 0 ? k - 1 : 0) : 2;
    int low = k > 0 ? k - 1 - extra : 0;
    symbols[i] = (uint8_t)(4 * k + ((u >> low) & ((1u << extra) - 1)));
    // Unconditional (no bits for u = 0): zero residuals are common in BF16 and unpredictable.
    bits_put(w, (u & ((1u << low) - 1)) | (sign << low), u ? low + 1 : 0);
}

// Elements alternate between the lanes; each lane has its own writer and exponent histogram
// (two counters chains instead of one).
static inline __attribute__((always_inline)) void classify(const void *x, const void *p1, const void *p2, size_t n,
                                                           uint8_t *symbols, uint8_t *contexts,
                                                           uint32_t *exponent_count, BitWriter *w, const int kind) {
    BitWriter w0 = w[0], w1 = w[1];
    size_t i = 0;
    for (; i + 1 < n; i += 2) {
        classify_one(x, p1, p2, i, symbols, contexts, exponent_count, &w0, kind);
        classify_one(x, p1, p2, i + 1, symbols, contexts, exponent_count + 256, &w1, kind);
    }
    if (i < n) classify_one(x, p1, p2, i, symbols, contexts, exponent_count, &w0, kind);
    w[0] = w0;
    w[1] = w1;
}

// Segments: a chunk of SEGMENT_MIN elements or more is coded as two contiguous halves, each
// with its two interleaved lanes and their own streams, under one set of tables, so two threads
// can encode or decode one chunk. Stream t = 2 * segment + lane.
enum { SEGMENT_MIN = 1 << 16, MAX_SEGMENTS = 2, MAX_STREAMS = MAX_SEGMENTS * LANES };

static int segments_of(size_t n) { return n >= SEGMENT_MIN ? 2 : 1; }
static size_t segment_start(size_t n, int segment) { return segment == 0 ? 0 : n / 2; }
static size_t segment_end(size_t n, int segment) { return segment == segments_of(n) - 1 ? n : n / 2; }
// Elements of stream t.
static size_t stream_count(size_t n, int t) {
    size_t len = segment_end(n, t / LANES) - segment_start(n, t / LANES);
    return (len + 1 - (size_t)(t % LANES)) / 2;
}
// Raw bits of a stream: at most 31 per element plus 8 bytes of slack; rANS bytes: at most 12 bits
// per element plus the final state.
static size_t raw_bound(size_t count) { return 4 * count + 16; }
static size_t rans_bound(size_t count) { return 2 * count + 16; }
static size_t header_bound(void) { return 4 + 2 * 256 + MAX_CONTEXTS * (1 + 3 * MAX_SYMBOLS) + 8 * MAX_STREAMS; }

static size_t streams_bound(size_t n) {
    size_t total = 0;
    for (int t = 0; t < LANES * segments_of(n); t++) total += raw_bound(stream_count(n, t)) + rans_bound(stream_count(n, t));
    return total;
}

size_t emalog_rans_bound(size_t n) { return header_bound() + streams_bound(n); }

size_t emalog_rans_scratch_size(size_t n) { return 2 * n + streams_bound(n); }

// One segment's work, run on the calling thread or a helper thread.
typedef struct {
    const uint8_t *x, *p1, *p2;  // at the segment's first element
    size_t n;
    int kind;
    uint8_t *symbols, *contexts;
    uint32_t exponent_count[2 * 256];
    BitWriter w[LANES];
    uint8_t *raw[LANES], *rans_end[LANES], *rans_start[LANES];
    EncSymbol (*table)[MAX_SYMBOLS];
} SegmentJob;

static void *classify_job(void *arg) {
    SegmentJob *j = arg;
    switch (j->kind) {
    case EMALOG_RANS_F32: classify(j->x, j->p1, j->p2, j->n, j->symbols, j->contexts, j->exponent_count, j->w, EMALOG_RANS_F32); break;
    case EMALOG_RANS_BF16: classify(j->x, j->p1, j->p2, j->n, j->symbols, j->contexts, j->exponent_count, j->w, EMALOG_RANS_BF16); break;
    default: classify(j->x, j->p1, j->p2, j->n, j->symbols, j->contexts, j->exponent_count, j->w, EMALOG_RANS_F16); break;
    }
    for (int l = 0; l < LANES; l++) bits_flush(&j->w[l]);
    return NULL;
}

// Each lane's rANS stream, backwards from its last element, then its final state; the two lanes
// interleaved (two independent chains).
static void *rans_job(void *arg) {
    SegmentJob *j = arg;
    const uint8_t *symbols = j->symbols, *contexts = j->contexts;
    uint8_t *q0 = j->rans_end[0], *q1 = j->rans_end[1];
    uint32_t state0 = RANS_L, state1 = RANS_L;
    size_t i = j->n;
    if (i & 1) {
        i -= 1;
        enc_put(&state0, &q0, &j->table[contexts[i]][symbols[i]]);
    }
    for (; i >= 2; i -= 2) {
        enc_put(&state1, &q1, &j->table[contexts[i - 1]][symbols[i - 1]]);
        enc_put(&state0, &q0, &j->table[contexts[i - 2]][symbols[i - 2]]);
    }
    q0 -= 4;
    memcpy(q0, &state0, 4);
    q1 -= 4;
    memcpy(q1, &state1, 4);
    j->rans_start[0] = q0;
    j->rans_start[1] = q1;
    return NULL;
}

// Runs `work` on each of `count` jobs (an array of `size`-byte elements), the later ones on helper
// threads when `threads` allows (else, or when a thread cannot start, on this one).
static void run_jobs(void *(*work)(void *), void *jobs, size_t size, int count, int threads) {
    pthread_t helper[MAX_SEGMENTS];
    int started[MAX_SEGMENTS] = {0};
    uint8_t *job = jobs;
    for (int k = 1; k < count; k++)
        if (threads > k) started[k] = pthread_create(&helper[k], NULL, work, job + k * size) == 0;
    work(job);
    for (int k = 1; k < count; k++) {
        if (started[k]) pthread_join(helper[k], NULL);
        else work(job + k * size);
    }
}

size_t emalog_rans_encode(const void *x, const void *p1, const void *p2, size_t n, int kind,
                          uint8_t *scratch, uint8_t *out, size_t cap, int threads) {
    if (cap < emalog_rans_bound(n)) return 0;
    const int width = width_of(kind) / 8, segments = segments_of(n);
    uint8_t *symbols = scratch, *contexts = scratch + n;
    uint8_t *buffer = scratch + 2 * n; // each stream's raw bits, then each stream's rANS bytes
    SegmentJob jobs[MAX_SEGMENTS];
    memset(jobs, 0, sizeof jobs);
    uint8_t *at = buffer;
    for (int t = 0; t < LANES * segments; t++) {
        jobs[t / LANES].raw[t % LANES] = at;
        at += raw_bound(stream_count(n, t));
    }
    for (int t = 0; t < LANES * segments; t++) {
        at += rans_bound(stream_count(n, t));
        jobs[t / LANES].rans_end[t % LANES] = at;
    }
    for (int g = 0; g < segments; g++) {
        SegmentJob *j = &jobs[g];
        size_t lo = segment_start(n, g);
        j->x = (const uint8_t *)x + lo * width;
        j->p1 = (const uint8_t *)p1 + lo * width;
        j->p2 = p2 ? (const uint8_t *)p2 + lo * width : NULL;
        j->n = segment_end(n, g) - lo;
        j->kind = kind;
        j->symbols = symbols + lo;
        j->contexts = contexts + lo;
        for (int l = 0; l < LANES; l++) j->w[l] = (BitWriter){j->raw[l], 0, 0};
    }

    // Pass 1: symbols, exponents, raw bits (they do not depend on the model).
    run_jobs(classify_job, jobs, sizeof jobs[0], segments, threads);

    // Contexts: exponents holding enough elements get their own table; the rest share context 0.
    uint8_t map[256] = {0};
    int context_count = 1;
    size_t threshold = n / 256 > 64 ? n / 256 : 64;
    for (int e = 0; e < 256 && context_count < MAX_CONTEXTS; e++) {
        size_t total = 0;
        for (int g = 0; g < segments; g++) total += jobs[g].exponent_count[e] + jobs[g].exponent_count[256 + e];
        if (total >= threshold) map[e] = (uint8_t)context_count++;
    }
    uint32_t (*count)[MAX_SYMBOLS] = calloc(2 * (size_t)context_count, sizeof *count); // two halves, summed below
    uint32_t freq[MAX_SYMBOLS];
    EncSymbol (*table)[MAX_SYMBOLS] = calloc(context_count, sizeof *table);
    if (!count || !table) { free(count); free(table); return 0; }
    for (size_t i = 0; i < n; i++) {
        contexts[i] = map[contexts[i]];
        count[(i & 1) * context_count + contexts[i]][symbols[i]]++;
    }

    // Header and tables.
    uint8_t *h = out;
    *h++ = VERSION;
    *h++ = (uint8_t)kind;
    *h++ = (uint8_t)context_count;
    *h++ = (uint8_t)(context_count - 1);
    for (int e = 0; e < 256; e++)
        if (map[e]) { *h++ = (uint8_t)e; *h++ = map[e]; }
    for (int c = 0; c < context_count; c++) {
        for (int k = 0; k < MAX_SYMBOLS; k++) count[c][k] += count[context_count + c][k];
        normalize(count[c], freq, MAX_SYMBOLS);
        uint8_t *nsym = h++;
        *nsym = 0;
        uint32_t start = 0;
        for (int s = 0; s < MAX_SYMBOLS; s++) {
            if (!freq[s]) continue;
            enc_symbol_init(&table[c][s], start, freq[s]);
            start += freq[s];
            *h++ = (uint8_t)s;
            *h++ = (uint8_t)freq[s];
            *h++ = (uint8_t)(freq[s] >> 8);
            (*nsym)++;
        }
    }

    // Pass 2: the rANS streams.
    for (int g = 0; g < segments; g++) jobs[g].table = table;
    run_jobs(rans_job, jobs, sizeof jobs[0], segments, threads);
    free(count);
    free(table);

    // Lengths (rANS of each stream, then raw of each stream), then the streams in that order.
    const int streams = LANES * segments;
    uint32_t lengths[2 * MAX_STREAMS];
    for (int t = 0; t < streams; t++) {
        SegmentJob *j = &jobs[t / LANES];
        lengths[t] = (uint32_t)(j->rans_end[t % LANES] - j->rans_start[t % LANES]);
        lengths[streams + t] = (uint32_t)(j->w[t % LANES].p - j->raw[t % LANES]);
    }
    memcpy(h, lengths, 2 * streams * sizeof(uint32_t));
    h += 2 * streams * sizeof(uint32_t);
    for (int t = 0; t < streams; t++) { memcpy(h, jobs[t / LANES].rans_start[t % LANES], lengths[t]); h += lengths[t]; }
    for (int t = 0; t < streams; t++) { memcpy(h, jobs[t / LANES].raw[t % LANES], lengths[streams + t]); h += lengths[streams + t]; }
    return (size_t)(h - out);
}

// ---- Decoder ------------------------------------------------------------------------------

enum { POISON = 0xFF }; // the symbol of every slot of a context without a table

// One slot of a context's decoding table: (freq - 1) << 20 | (slot - start) << 8 | symbol.
static inline uint32_t slot_entry(uint32_t freq, uint32_t offset, uint32_t symbol) {
    return (freq - 1) << 20 | offset << 8 | symbol;
}

typedef struct {
    const uint8_t *p, *end;       // rANS bytes
    const uint8_t *raw;           // raw bits
    uint64_t raw_size, position;  // in bytes; position in bits
    uint32_t state;
} Lane;

typedef struct {
    const uint32_t *slots;
    const uint8_t *map;
    const SymbolShape *shapes;
    uint32_t poisoned, overrun;
} Model;

// Up to 57 bits at the lane's bit position: one unaligned load on the fast path, byte by byte
// (zeros past the end) near the end.
static inline __attribute__((always_inline)) uint64_t peek_bits(const Lane *l, const int safe) {
    uint64_t word = 0, at = l->position >> 3;
    if (!safe) memcpy(&word, l->raw + at, 8);
    else for (int b = 0; b < 8 && at + b < l->raw_size; b++) word |= (uint64_t)l->raw[at + b] << (8 * b);
    return word >> (l->position & 7);
}

// Element i of lane l: the symbol from the context of p1's exponent, the state advanced and
// renormalised (at most two bytes at 12-bit probabilities), then the raw bits.
static inline __attribute__((always_inline)) void decode_one(Model *m, Lane *l, const void *p1, const void *p2,
                                                             void *out, size_t i, const int kind, const int safe,
                                                             const int has_p2) {
    uint32_t x = l->state;
    uint32_t entry = m->slots[(size_t)m->map[exponent_of(kind, load(kind, p1, i))] * SCALE + (x & (SCALE - 1))];
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
    uint64_t v = peek_bits(l, safe) & ((1ull << sh.bits) - 1);
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

int emalog_rans_decode(const uint8_t *payload, size_t size, const void *p1, const void *p2, void *out, size_t n,
                       int kind, int threads) {
    const int width = width_of(kind);
    const uint8_t *h = payload, *end = payload + size;
    if (size < 4) return -1;
    if (h[0] != VERSION || h[1] != kind) return -2;
    int context_count = h[2], mapped = h[3];
    if (context_count < 1 || context_count > MAX_CONTEXTS || mapped >= context_count) return -3;
    h += 4;
    uint8_t map[256] = {0};
    if ((size_t)(end - h) < 2 * (size_t)mapped) return -1;
    for (int k = 0; k < mapped; k++, h += 2) {
        if (h[1] == 0 || h[1] >= context_count) return -3;
        map[h[0]] = h[1];
    }
    SymbolShape shapes[256] = {{0, 0, 0, 0, 0}};
    for (int s = 0; s < MAX_SYMBOLS; s++) shapes[s] = shape_of(s, width);
    uint32_t *slots = malloc((size_t)context_count * SCALE * sizeof(uint32_t));
    if (!slots) return -9;
    int status = 0;
    for (int c = 0; c < context_count && !status; c++) {
        if (end - h < 1) { status = -1; break; }
        int nsym = *h++;
        if ((size_t)(end - h) < (size_t)nsym * 3) { status = -1; break; }
        uint32_t start = 0;
        for (int j = 0; j < nsym; j++, h += 3) {
            uint32_t s = h[0], f = h[1] | (uint32_t)h[2] << 8;
            if (s >= MAX_SYMBOLS || !shapes[s].valid || f == 0 || start + f > SCALE) { status = -4; break; }
            for (uint32_t k = 0; k < f; k++) slots[(size_t)c * SCALE + start + k] = slot_entry(f, k, s);
            start += f;
        }
        if (!status && nsym > 0 && start != SCALE) status = -4;
        if (nsym == 0)
            for (uint32_t k = 0; k < SCALE; k++) slots[(size_t)c * SCALE + k] = slot_entry(SCALE, k, POISON);
    }
    const int segments = segments_of(n), streams = LANES * segments;
    uint32_t lengths[2 * MAX_STREAMS];
    if (!status && (size_t)(end - h) < 2 * streams * sizeof(uint32_t)) status = -1;
    if (!status) {
        memcpy(lengths, h, 2 * streams * sizeof(uint32_t));
        h += 2 * streams * sizeof(uint32_t);
        uint64_t total = 0;
        for (int k = 0; k < 2 * streams; k++) total += lengths[k];
        if (total != (uint64_t)(end - h)) status = -5;
        for (int t = 0; t < streams; t++) if (lengths[t] < 4) status = -5;
    }
    if (status) { free(slots); return status; }

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
    const int bytes = width / 8;
    for (int g = 0; g < segments; g++) {
        size_t lo = segment_start(n, g);
        DecodeJob *j = &jobs[g];
        j->m = (Model){slots, map, shapes, 0, 0};
        j->p1 = (const uint8_t *)p1 + lo * bytes;
        j->p2 = p2 ? (const uint8_t *)p2 + lo * bytes : NULL;
        j->out = (uint8_t *)out + lo * bytes;
        j->n = segment_end(n, g) - lo;
        j->kind = kind;
    }
    run_jobs(decode_job, jobs, sizeof jobs[0], segments, threads);
    free(slots);
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
