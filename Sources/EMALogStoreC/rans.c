// Residual coding of float tensors between keyframes: a prediction from the previous one or two
// steps, the residual in sign-magnitude, its magnitude class (bit length and the next two bits)
// entropy-coded with static rANS in a context given by the exponent of the previous value, the
// remaining low bits and the sign stored raw. Payload layout: see EMALogStoreC.h.
//
// rANS after Fabian Giesen's public-domain rans_word_sse41.h: 32-bit states in [2^16, 2^32),
// 16-bit renormalisation (at most one word per element), 12-bit probabilities. Version 2 (written
// today): element i of a segment belongs to lane i mod 16; the 16 lanes share one word stream in
// the order a decoder reads it (element order), so a vector decoder advances 16 states at once;
// raw bits are one stream per segment in element order. Version 1 (rans_v1.c) is read only.
#include "rans_internal.h"
#include <pthread.h>
#include <stdlib.h>

// Bit-exact float arithmetic in every build: no contraction into fused multiply-adds.
#pragma clang fp contract(off)

enum { VERSION_1 = 1, VERSION = 2 };

void emalog_run_jobs(void *(*work)(void *), void *jobs, size_t size, int count, int threads) {
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

// ---- Model --------------------------------------------------------------------------------

// x / freq for any 32-bit x is the high half of x × rcp (rcp = floor(2^64 / freq) + 1 overshoots
// 1 / freq by less than 2^-64, so the product's error stays below x / 2^64 < 2^-32, less than the
// gap 1 / freq between a fraction and the next integer); freq = 1 is x itself.
typedef struct { uint64_t x_max, rcp; uint32_t freq, start; } EncSymbol;

static EncSymbol enc_symbol(uint32_t freq, uint32_t start) {
    EncSymbol s = {((uint64_t)(RANS2_L >> SCALE_BITS) << 16) * freq, 0, freq, start};
    if (freq > 1) s.rcp = UINT64_MAX / freq + 1;
    return s;
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

int emalog_rans_read_model(const uint8_t *payload, size_t size, int kind, RansModel *m) {
    const uint8_t *h = payload, *end = payload + size;
    m->slots = NULL;
    if (size < 4) return -1;
    if ((h[0] != VERSION && h[0] != VERSION_1) || h[1] != kind) return -2;
    int context_count = h[2], mapped = h[3];
    if (context_count < 1 || context_count > MAX_CONTEXTS || mapped >= context_count) return -3;
    h += 4;
    uint8_t map[256] = {0};
    if ((size_t)(end - h) < 2 * (size_t)mapped) return -1;
    for (int k = 0; k < mapped; k++, h += 2) {
        if (h[1] == 0 || h[1] >= context_count) return -3;
        map[h[0]] = h[1];
    }
    for (int e = 0; e < 256; e++) m->map_base[e] = (uint32_t)map[e] * SCALE;
    for (int s = 0; s < 256; s++) m->shapes[s] = s < MAX_SYMBOLS ? shape_of(s, width_of(kind)) : (SymbolShape){0, 0, 0, 0, 0};
    uint32_t *slots = malloc((size_t)context_count * SCALE * sizeof(uint32_t));
    if (!slots) return -9;
    for (int c = 0; c < context_count; c++) {
        if (end - h < 1) { free(slots); return -1; }
        int nsym = *h++;
        if ((size_t)(end - h) < (size_t)nsym * 3) { free(slots); return -1; }
        uint32_t start = 0;
        for (int j = 0; j < nsym; j++, h += 3) {
            uint32_t s = h[0], f = h[1] | (uint32_t)h[2] << 8;
            if (s >= MAX_SYMBOLS || !m->shapes[s].valid || f == 0 || start + f > SCALE) { free(slots); return -4; }
            for (uint32_t k = 0; k < f; k++) slots[(size_t)c * SCALE + start + k] = slot_entry(f, k, s);
            start += f;
        }
        if (nsym > 0 && start != SCALE) { free(slots); return -4; }
        if (nsym == 0)
            for (uint32_t k = 0; k < SCALE; k++) slots[(size_t)c * SCALE + k] = slot_entry(SCALE, k, POISON);
    }
    m->slots = slots;
    m->streams = h;
    return 0;
}

void emalog_rans_free_model(RansModel *m) {
    free(m->slots);
    m->slots = NULL;
}

// ---- Encoder ------------------------------------------------------------------------------

// Symbol i, its context and its raw bits; counts[context][symbol] kept.
static inline __attribute__((always_inline)) void classify_one(const void *x, const void *p1, const void *p2, size_t i,
                                                               uint8_t *symbols, uint8_t *contexts, const uint8_t *map,
                                                               uint32_t (*counts)[MAX_SYMBOLS], BitWriter *w, const int kind) {
    const int width = width_of(kind);
    const uint32_t mask = width == 32 ? 0xFFFFFFFFu : 0xFFFFu;
    uint32_t r = (load(kind, x, i) - predict_with(kind, p1, p2, i, p2 != 0)) & mask;
    uint32_t sign = r >> (width - 1);
    uint32_t u = sign ? ((0u - r) & mask) : r;
    uint32_t c = map[exponent_of(kind, load(kind, p1, i))];
    contexts[i] = (uint8_t)c;
    int k = u ? 32 - __builtin_clz(u) : 0;
    int extra = k - 1 < 2 ? (k > 0 ? k - 1 : 0) : 2;
    int low = k > 0 ? k - 1 - extra : 0;
    uint32_t symbol = 4 * k + ((u >> low) & ((1u << extra) - 1));
    symbols[i] = (uint8_t)symbol;
    counts[c][symbol]++;
    // Unconditional (no bits for u = 0): zero residuals are common in BF16 and unpredictable.
    bits_put(w, (u & ((1u << low) - 1)) | (sign << low), u ? low + 1 : 0);
}

// Two count tables (even and odd elements): a run of equal symbols would otherwise chain every
// increment to the one before.
static inline __attribute__((always_inline)) void classify(const void *x, const void *p1, const void *p2, size_t n,
                                                           uint8_t *symbols, uint8_t *contexts, const uint8_t *map,
                                                           uint32_t (*counts)[MAX_SYMBOLS], BitWriter *w, const int kind) {
    BitWriter bw = *w;
    size_t i = 0;
    for (; i + 1 < n; i += 2) {
        classify_one(x, p1, p2, i, symbols, contexts, map, counts, &bw, kind);
        classify_one(x, p1, p2, i + 1, symbols, contexts, map, counts + MAX_CONTEXTS, &bw, kind);
    }
    if (i < n) classify_one(x, p1, p2, i, symbols, contexts, map, counts, &bw, kind);
    *w = bw;
}

// Four histograms of p1's exponents (interleaved elements), summed by the caller.
static inline __attribute__((always_inline)) void count_exponents(const void *p1, size_t n, uint32_t (*count)[256],
                                                                  const int kind) {
    size_t i = 0;
    for (; i + 3 < n; i += 4)
        for (int k = 0; k < 4; k++) count[k][exponent_of(kind, load(kind, p1, i + k))]++;
    for (; i < n; i++) count[0][exponent_of(kind, load(kind, p1, i))]++;
}

// Raw bits: at most 31 per element plus 8 bytes of slack; rANS: the 16 states, at most one word
// per element.
static size_t raw_bound(size_t count) { return 4 * count + 16; }
static size_t rans_bound(size_t count) { return 4 * LANES2 + 2 * count + 16; }
static size_t header_bound(void) { return 4 + 2 * 256 + MAX_CONTEXTS * (1 + 3 * MAX_SYMBOLS) + 8 * MAX_SEGMENTS; }

static size_t streams_bound(size_t n) {
    size_t total = 0;
    for (int g = 0; g < segments_of(n); g++) {
        size_t count = segment_end(n, g) - segment_start(n, g);
        total += raw_bound(count) + rans_bound(count);
    }
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
    uint32_t exponent_count[4][256];
    uint32_t (*counts)[MAX_SYMBOLS];   // [2 × MAX_CONTEXTS][symbol]: even, odd elements
    const uint8_t *map;                // exponent -> context
    int vectors;                       // classify with the AVX-512 (2) or AVX2 (1) loop
    const uint32_t *packed;            // for the vector rANS pass: [context × MAX_SYMBOLS + symbol] = freq << 12 | start
    BitWriter w;
    uint8_t *raw, *rans_end, *rans_start;
    const EncSymbol (*table)[MAX_SYMBOLS];
} SegmentJob;

static void *exponent_job(void *arg) {
    SegmentJob *j = arg;
    switch (j->kind) {
    case EMALOG_RANS_F32: count_exponents(j->p1, j->n, j->exponent_count, EMALOG_RANS_F32); break;
    case EMALOG_RANS_BF16: count_exponents(j->p1, j->n, j->exponent_count, EMALOG_RANS_BF16); break;
    default: count_exponents(j->p1, j->n, j->exponent_count, EMALOG_RANS_F16); break;
    }
    return NULL;
}

// The vector pass takes whole groups of 16 (its symbols counted after it, in two tables), the
// scalar one the rest.
static void *classify_job(void *arg) {
    SegmentJob *j = arg;
    size_t done = 0;
    if (j->vectors) {
        done = j->vectors == 2 ? emalog_rans2_classify_avx512(j->x, j->p1, j->p2, j->n, j->kind, j->map, j->symbols, j->contexts, &j->w)
                               : emalog_rans2_classify_avx2(j->x, j->p1, j->p2, j->n, j->kind, j->map, j->symbols, j->contexts, &j->w);
        size_t i = 0;
        for (; i + 1 < done; i += 2) {
            j->counts[j->contexts[i]][j->symbols[i]]++;
            j->counts[MAX_CONTEXTS + j->contexts[i + 1]][j->symbols[i + 1]]++;
        }
        if (i < done) j->counts[j->contexts[i]][j->symbols[i]]++;
    }
    const size_t b = (size_t)width_of(j->kind) / 8 * done, rest = j->n - done;
    const uint8_t *x = j->x + b, *p1 = j->p1 + b, *p2 = j->p2 ? j->p2 + b : NULL;
    uint8_t *symbols = j->symbols + done, *contexts = j->contexts + done;
    switch (j->kind) {
    case EMALOG_RANS_F32: classify(x, p1, p2, rest, symbols, contexts, j->map, j->counts, &j->w, EMALOG_RANS_F32); break;
    case EMALOG_RANS_BF16: classify(x, p1, p2, rest, symbols, contexts, j->map, j->counts, &j->w, EMALOG_RANS_BF16); break;
    default: classify(x, p1, p2, rest, symbols, contexts, j->map, j->counts, &j->w, EMALOG_RANS_F16); break;
    }
    bits_flush(&j->w);
    return NULL;
}

// The word stream backwards from the last element (lanes of a group from 15 down to 0), so the
// decoder reads it forwards in element order; then the 16 final states in front of it.
// One element of the rANS pass (scalar).
static inline void encode_one(const EncSymbol *s, uint32_t *state, uint8_t **q) {
    uint32_t x = *state;
    // Branch-free (a word leaves for about one element in four, unpredictably): the word is
    // always stored below q (the states' room is there), q moves only when it leaves.
    uint32_t emit = x >= s->x_max;
    uint16_t word = (uint16_t)x;
    memcpy(*q - 2, &word, 2);
    *q -= 2 * emit;
    x >>= 16 * emit; // a shift, not a select (compilers made that a branch)
    uint32_t quotient = s->freq == 1 ? x : (uint32_t)(((unsigned __int128)x * s->rcp) >> 64);
    *state = (quotient << SCALE_BITS) + (x - quotient * s->freq) + s->start;
}

static pthread_once_t inverse_once = PTHREAD_ONCE_INIT;
static double inverse[SCALE + 1];

// inverse[f]: the smallest double >= 1 / f, so that x × inverse[f] in double truncates to x / f
// for every 32-bit x: with 1 / f <= inverse < (1 / f)(1 + 2^-52), x × inverse lies in
// [x / f, x / f + 2^-20], and x / f is at least 1 / f >= 2^-12 below the next integer (nor can
// rounding the product to a double reach it, or fall below an integer it is at).
static void fill_inverse(void) {
    for (int f = 1; f <= SCALE; f++) {
        double d = 1.0 / f;
        uint64_t bits;
        memcpy(&bits, &d, 8);
        // d = m × 2^e exactly; d < 1 / f when m × f < 2^-e: then the next double up.
        uint64_t m = (bits & ((1ull << 52) - 1)) | (1ull << 52);
        int e = (int)((bits >> 52) & 0x7FF) - 1075;
        if ((unsigned __int128)m * (unsigned)f < ((unsigned __int128)1 << -e)) {
            bits += 1;
            memcpy(&d, &bits, 8);
        }
        inverse[f] = d;
    }
}

size_t emalog_rans_check_division(size_t samples) {
    pthread_once(&inverse_once, fill_inverse);
    size_t wrong = 0;
    uint64_t s = 1;
    for (uint32_t f = 1; f <= SCALE; f++) {
        for (size_t k = 0; k < samples; k++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            uint64_t r = s >> 32, q = r / f;
            // Random values, multiples of f, one below the next multiple, the top of the range.
            uint32_t x = k % 4 == 0 ? (uint32_t)r
                         : k % 4 == 1 ? (uint32_t)(q * f)
                         : k % 4 == 2 ? (uint32_t)(q * f + f - 1 > 0xFFFFFFFFull ? 0xFFFFFFFFull : q * f + f - 1)
                                      : 0xFFFFFFFFu - (uint32_t)(k / 4);
            wrong += (uint32_t)((double)x * inverse[f]) != x / f;
        }
    }
    return wrong;
}

static void *rans_job(void *arg) {
    SegmentJob *j = arg;
    const uint8_t *symbols = j->symbols, *contexts = j->contexts;
    uint8_t *q = j->rans_end;
    uint32_t state[LANES2];
    for (int l = 0; l < LANES2; l++) state[l] = RANS2_L;
    // The vector loop takes the whole groups below a partial last one (done here first).
    size_t whole = j->packed ? j->n / LANES2 * LANES2 : 0;
    for (size_t i = j->n; i-- > whole;) encode_one(&j->table[contexts[i]][symbols[i]], &state[i % LANES2], &q);
    if (whole) emalog_rans2_encode_avx512(symbols, contexts, whole / LANES2, j->packed, inverse, state, &q);
    q -= sizeof state;
    memcpy(q, state, sizeof state);
    j->rans_start = q;
    return NULL;
}

size_t emalog_rans_encode(const void *x, const void *p1, const void *p2, size_t n, int kind,
                          uint8_t *scratch, uint8_t *out, size_t cap, int threads, int vectors) {
    if (cap < emalog_rans_bound(n)) return 0;
    const int width = width_of(kind) / 8, segments = segments_of(n);
    uint8_t *symbols = scratch, *contexts = scratch + n;
    SegmentJob jobs[MAX_SEGMENTS];
    memset(jobs, 0, sizeof jobs);
    uint32_t (*counts)[MAX_SYMBOLS] = calloc((size_t)segments * 2 * MAX_CONTEXTS, sizeof *counts);
    EncSymbol (*table)[MAX_SYMBOLS] = calloc(MAX_CONTEXTS, sizeof *table);
    // The widest loops this CPU has, up to the level asked for (the rANS pass only in AVX-512).
    vectors = vectors >= 2 && emalog_rans_vectors_available() ? 2 : vectors >= 1 && emalog_rans2_avx2_available() ? 1 : 0;
    uint32_t *packed = vectors == 2 ? calloc(MAX_CONTEXTS * MAX_SYMBOLS, sizeof *packed) : NULL;
    if (!counts || !table || (vectors == 2 && !packed)) { free(counts); free(table); free(packed); return 0; }
    if (vectors == 2) pthread_once(&inverse_once, fill_inverse);
    uint8_t *at = scratch + 2 * n; // each segment's raw bits, then its rANS words
    for (int g = 0; g < segments; g++) {
        SegmentJob *j = &jobs[g];
        size_t lo = segment_start(n, g);
        j->x = (const uint8_t *)x + lo * width;
        j->p1 = (const uint8_t *)p1 + lo * width;
        j->p2 = p2 ? (const uint8_t *)p2 + lo * width : NULL;
        j->n = segment_end(n, g) - lo;
        j->kind = kind;
        j->vectors = vectors;
        j->symbols = symbols + lo;
        j->contexts = contexts + lo;
        j->counts = counts + 2 * MAX_CONTEXTS * g;
        j->raw = at;
        j->w = (BitWriter){at, 0, 0};
        at += raw_bound(j->n) + rans_bound(j->n);
        j->rans_end = at;
    }

    // Contexts: exponents of p1 holding enough elements get their own table; the rest share
    // context 0.
    emalog_run_jobs(exponent_job, jobs, sizeof jobs[0], segments, threads);
    uint8_t map[256] = {0};
    int context_count = 1;
    size_t threshold = n / 256 > 64 ? n / 256 : 64;
    for (int e = 0; e < 256 && context_count < MAX_CONTEXTS; e++) {
        size_t total = 0;
        for (int g = 0; g < segments; g++)
            for (int k = 0; k < 4; k++) total += jobs[g].exponent_count[k][e];
        if (total >= threshold) map[e] = (uint8_t)context_count++;
    }

    // Pass 1: symbols, contexts, raw bits (they do not depend on the model), symbol counts.
    for (int g = 0; g < segments; g++) jobs[g].map = map;
    emalog_run_jobs(classify_job, jobs, sizeof jobs[0], segments, threads);
    uint32_t count[MAX_CONTEXTS][MAX_SYMBOLS] = {{0}}, freq[MAX_SYMBOLS];
    for (int g = 0; g < segments; g++)
        for (int c = 0; c < 2 * MAX_CONTEXTS; c++)
            for (int k = 0; k < MAX_SYMBOLS; k++) count[c % MAX_CONTEXTS][k] += jobs[g].counts[c][k];

    // Header and tables.
    uint8_t *h = out;
    *h++ = VERSION;
    *h++ = (uint8_t)kind;
    *h++ = (uint8_t)context_count;
    *h++ = (uint8_t)(context_count - 1);
    for (int e = 0; e < 256; e++)
        if (map[e]) { *h++ = (uint8_t)e; *h++ = map[e]; }
    for (int c = 0; c < context_count; c++) {
        normalize(count[c], freq, MAX_SYMBOLS);
        uint8_t *nsym = h++;
        *nsym = 0;
        uint32_t start = 0;
        for (int s = 0; s < MAX_SYMBOLS; s++) {
            if (!freq[s]) continue;
            table[c][s] = enc_symbol(freq[s], start);
            if (packed) packed[c * MAX_SYMBOLS + s] = freq[s] << SCALE_BITS | start;
            start += freq[s];
            *h++ = (uint8_t)s;
            *h++ = (uint8_t)freq[s];
            *h++ = (uint8_t)(freq[s] >> 8);
            (*nsym)++;
        }
    }

    // Pass 2: the rANS words.
    for (int g = 0; g < segments; g++) {
        jobs[g].table = (const EncSymbol (*)[MAX_SYMBOLS])table;
        jobs[g].packed = packed;
    }
    emalog_run_jobs(rans_job, jobs, sizeof jobs[0], segments, threads);
    free(counts);
    free(table);
    free(packed);

    // Lengths (rANS of each segment, then raw of each segment), then the streams in that order.
    uint32_t lengths[2 * MAX_SEGMENTS];
    for (int g = 0; g < segments; g++) {
        lengths[g] = (uint32_t)(jobs[g].rans_end - jobs[g].rans_start);
        lengths[segments + g] = (uint32_t)(jobs[g].w.p - jobs[g].raw);
    }
    memcpy(h, lengths, 2 * segments * sizeof(uint32_t));
    h += 2 * segments * sizeof(uint32_t);
    for (int g = 0; g < segments; g++) { memcpy(h, jobs[g].rans_start, lengths[g]); h += lengths[g]; }
    for (int g = 0; g < segments; g++) { memcpy(h, jobs[g].raw, lengths[segments + g]); h += lengths[segments + g]; }
    return (size_t)(h - out);
}

// ---- Decoder (version 2) ------------------------------------------------------------------

// Element i of the segment (lane i mod 16): the symbol from the context of p1's exponent, the
// lane's state advanced and renormalised (at most one word), then the raw bits.
static inline __attribute__((always_inline)) void decode_one(Decode2Job *j, uint32_t *state, const uint8_t **wp,
                                                             uint64_t *position, size_t i, const int kind,
                                                             const int safe, const int has_p2) {
    const RansModel *m = j->m;
    uint32_t x = state[i % LANES2];
    uint32_t entry = m->slots[m->map_base[exponent_of(kind, load(kind, j->p1, i))] + (x & (SCALE - 1))];
    uint32_t symbol = entry & 0xFF;
    j->poisoned |= symbol == POISON;
    x = ((entry >> 20) + 1) * (x >> SCALE_BITS) + ((entry >> 8) & 0xFFF);
    uint32_t more = x < RANS2_L;
    uint16_t word = 0;
    if (!safe || *wp + 2 <= j->words_end) memcpy(&word, *wp, 2);
    else j->overrun |= more;
    state[i % LANES2] = more ? (x << 16) | word : x;
    *wp += safe ? 2 * (more && *wp + 2 <= j->words_end) : 2 * more;
    SymbolShape sh = m->shapes[symbol];
    uint64_t v = peek_raw(j->raw, j->raw_size, *position, safe) & ((1ull << sh.bits) - 1);
    *position += sh.bits;
    uint32_t u = sh.base | ((uint32_t)v & sh.low_mask);
    uint32_t r = (uint32_t)(v >> sh.low) ? (0u - u) : u;
    uint32_t mask = kind == EMALOG_RANS_F32 ? 0xFFFFFFFFu : 0xFFFFu;
    store(kind, j->out, i, (predict_with(kind, j->p1, j->p2, i, has_p2) + r) & mask);
}

// Each element takes at most one word and 31 raw bits, so `room` elements run without a bounds
// check (the raw peek reads 8 bytes); then the rest checked.
static inline __attribute__((always_inline)) void decode_rest(Decode2Job *j, const int kind, const int has_p2) {
    uint32_t state[LANES2];
    memcpy(state, j->state, sizeof state);
    const uint8_t *wp = j->words;
    uint64_t position = j->position;
    size_t i = j->done;
    for (;;) {
        size_t room = j->n - i;
        size_t words = (size_t)(j->words_end - wp) / 2;
        uint64_t need = (position >> 3) + 8;
        size_t bits = j->raw_size > need ? (size_t)((j->raw_size - need) / 4) : 0;
        if (words < room) room = words;
        if (bits < room) room = bits;
        if (room == 0) break;
        for (size_t end = i + room; i < end; i++) decode_one(j, state, &wp, &position, i, kind, 0, has_p2);
    }
    for (; i < j->n; i++) decode_one(j, state, &wp, &position, i, kind, 1, has_p2);
    memcpy(j->state, state, sizeof state);
    j->words = wp;
    j->position = position;
    j->done = i;
}

int emalog_rans_vectors_available(void) {
    static int available = -1; // asked of the CPU once; every thread finds the same answer
    int known = __atomic_load_n(&available, __ATOMIC_RELAXED);
    if (known < 0) {
        known = emalog_rans2_avx512_available();
        __atomic_store_n(&available, known, __ATOMIC_RELAXED);
    }
    return known;
}

int emalog_rans_avx2_available(void) { return emalog_rans2_avx2_available(); }

static void *decode2_job(void *arg) {
    Decode2Job *j = arg;
    if (j->vectors == 2) emalog_rans2_decode_avx512(j);
    else if (j->vectors == 1) emalog_rans2_decode_avx2(j);
    switch (j->kind * 2 + (j->p2 != 0)) {
    case EMALOG_RANS_F32 * 2: decode_rest(j, EMALOG_RANS_F32, 0); break;
    case EMALOG_RANS_F32 * 2 + 1: decode_rest(j, EMALOG_RANS_F32, 1); break;
    case EMALOG_RANS_BF16 * 2: decode_rest(j, EMALOG_RANS_BF16, 0); break;
    case EMALOG_RANS_BF16 * 2 + 1: decode_rest(j, EMALOG_RANS_BF16, 1); break;
    case EMALOG_RANS_F16 * 2: decode_rest(j, EMALOG_RANS_F16, 0); break;
    default: decode_rest(j, EMALOG_RANS_F16, 1); break;
    }
    return NULL;
}

// Streams: S = segments; S × u32 rANS bytes, S × u32 raw bytes, the S rANS streams (16 × u32
// states, then u16 words), the S raw streams.
static int decode_v2(const RansModel *m, const uint8_t *end, const void *p1, const void *p2, void *out, size_t n,
                     int kind, int threads, int vectors) {
    const uint8_t *h = m->streams;
    const int segments = segments_of(n);
    uint32_t lengths[2 * MAX_SEGMENTS];
    int status = read_lengths(&h, end, 2 * segments, lengths);
    if (status) return status;
    for (int g = 0; g < segments; g++)
        if (lengths[g] < 4 * LANES2 || (lengths[g] - 4 * LANES2) % 2) return -5;

    Decode2Job jobs[MAX_SEGMENTS];
    const uint8_t *rans = h, *raw = h;
    for (int g = 0; g < segments; g++) raw += lengths[g];
    const int bytes = width_of(kind) / 8;
    for (int g = 0; g < segments; g++) {
        Decode2Job *j = &jobs[g];
        size_t lo = segment_start(n, g);
        *j = (Decode2Job){.m = m, .kind = kind, .vectors = vectors};
        memcpy(j->state, rans, sizeof j->state);
        j->words = rans + sizeof j->state;
        j->words_end = rans + lengths[g];
        rans += lengths[g];
        j->raw = raw;
        j->raw_size = lengths[segments + g];
        raw += lengths[segments + g];
        j->p1 = (const uint8_t *)p1 + lo * bytes;
        j->p2 = p2 ? (const uint8_t *)p2 + lo * bytes : NULL;
        j->out = (uint8_t *)out + lo * bytes;
        j->n = segment_end(n, g) - lo;
    }
    emalog_run_jobs(decode2_job, jobs, sizeof jobs[0], segments, threads);
    int overrun = 0;
    for (int g = 0; g < segments; g++) {
        const Decode2Job *j = &jobs[g];
        if (j->poisoned) return -6;
        overrun |= j->overrun;
        if (j->words != j->words_end) return -7;
        for (int l = 0; l < LANES2; l++) if (j->state[l] != RANS2_L) return -7;
        // The raw bits used end in the stream's last byte (past them only that byte's padding).
        if (j->position > 8 * j->raw_size || 8 * j->raw_size - j->position >= 8) return -8;
    }
    return overrun ? -7 : 0;
}

int emalog_rans_decode(const uint8_t *payload, size_t size, const void *p1, const void *p2, void *out, size_t n,
                       int kind, int threads, int vectors) {
    RansModel model;
    int status = emalog_rans_read_model(payload, size, kind, &model);
    if (status) return status;
    // The widest loop this CPU has, up to the level asked for.
    int level = vectors >= 2 && emalog_rans_vectors_available() ? 2 : vectors >= 1 && emalog_rans2_avx2_available() ? 1 : 0;
    if (payload[0] == VERSION) status = decode_v2(&model, payload + size, p1, p2, out, n, kind, threads, level);
    else status = emalog_rans_decode_v1(&model, payload + size, p1, p2, out, n, kind, threads);
    emalog_rans_free_model(&model);
    return status;
}
