// The version 2 rANS decoder's vector loop (AVX-512 F, BW and VBMI, chosen at run time): one
// group of 16 elements per iteration, lane l of the vector being lane l of the payload. The
// context's slot entries are gathered, the 16 states advanced at once, the lanes that fall below
// 2^16 take the next words of the shared stream in lane order (an expand), and each lane's raw bits
// are found by a prefix sum of the 16 widths and picked by byte permutes from a 128-byte window.
// Same arithmetic as decode_one in rans.c.
#include "rans_internal.h"

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>

// Bit-exact float arithmetic in every build: no contraction into fused multiply-adds.
#pragma clang fp contract(off)

#define TARGET __attribute__((target("avx512f,avx512bw,avx512cd,avx512vl,avx512vbmi,popcnt")))

int emalog_rans2_avx512_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512cd") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vbmi");
}

static inline __attribute__((always_inline)) TARGET __m512i load16(const uint8_t *p, const int kind) {
    if (kind == EMALOG_RANS_F32) return _mm512_loadu_si512((const void *)p);
    return _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p));
}

// The prediction of 16 elements from p1's `a` and p2 at element i, as predict_with.
static inline __attribute__((always_inline)) TARGET __m512i predict16(__m512i a, const uint8_t *p2, size_t i, const int kind,
                                                                      const int has_p2) {
    if (!has_p2) return a;
    const __m512i one = _mm512_set1_epi32(1);
    __m512i b = load16(p2 + i * (kind == EMALOG_RANS_F32 ? 4 : 2), kind);
    if (kind == EMALOG_RANS_F32) {
        __m512 f1 = _mm512_castsi512_ps(a), f2 = _mm512_castsi512_ps(b);
        __m512 p = _mm512_add_ps(f1, _mm512_sub_ps(f1, f2));
        __m512i prediction = _mm512_mask_mov_epi32(_mm512_castps_si512(p), _mm512_cmp_ps_mask(p, p, _CMP_UNORD_Q),
                                                   _mm512_set1_epi32(0x7FC00000));
        return _mm512_mask_mov_epi32(prediction, _mm512_cmpeq_epi32_mask(a, b), a);
    }
    if (kind == EMALOG_RANS_BF16) {
        __m512 f1 = _mm512_castsi512_ps(_mm512_slli_epi32(a, 16)), f2 = _mm512_castsi512_ps(_mm512_slli_epi32(b, 16));
        __m512 p = _mm512_add_ps(f1, _mm512_sub_ps(f1, f2));
        __m512i w = _mm512_castps_si512(p);
        __m512i rounded = _mm512_srli_epi32(
            _mm512_add_epi32(_mm512_add_epi32(w, _mm512_set1_epi32(0x7FFF)), _mm512_and_si512(_mm512_srli_epi32(w, 16), one)), 16);
        rounded = _mm512_mask_mov_epi32(rounded, _mm512_cmp_ps_mask(p, p, _CMP_UNORD_Q), _mm512_set1_epi32(0x7FC0));
        return _mm512_mask_mov_epi32(rounded, _mm512_cmpeq_epi32_mask(a, b), a);
    }
    return _mm512_and_si512(_mm512_sub_epi32(_mm512_slli_epi32(a, 1), b), _mm512_set1_epi32(0xFFFF));
}

// p1's exponent in each lane (the context before mapping).
static inline __attribute__((always_inline)) TARGET __m512i exponent16(__m512i a, const int kind) {
    const __m512i byte_mask = _mm512_set1_epi32(0xFF);
    return kind == EMALOG_RANS_F32    ? _mm512_and_si512(_mm512_srli_epi32(a, 23), byte_mask)
           : kind == EMALOG_RANS_BF16 ? _mm512_and_si512(_mm512_srli_epi32(a, 7), byte_mask)
                                      : _mm512_and_si512(_mm512_srli_epi32(a, 10), _mm512_set1_epi32(0x1F));
}

static inline __attribute__((always_inline)) TARGET void load_map(__m512i *map, const uint8_t *bytes) {
    for (int k = 0; k < 4; k++) map[k] = _mm512_loadu_si512((const void *)(bytes + 64 * k));
}

// Each lane's context: the exponent's entry of the 256-byte map (two two-table byte permutes, bit 7
// choosing between them).
static inline __attribute__((always_inline)) TARGET __m512i context16(__m512i e, const __m512i *map) {
    __m512i low = _mm512_permutex2var_epi8(map[0], e, map[1]);
    __m512i high = _mm512_permutex2var_epi8(map[2], e, map[3]);
    __m512i c = _mm512_mask_mov_epi32(low, _mm512_test_epi32_mask(e, _mm512_set1_epi32(0x80)), high);
    return _mm512_and_si512(c, _mm512_set1_epi32(0xFF));
}

// The first slot of each lane's context.
static inline __attribute__((always_inline)) TARGET __m512i context_base(__m512i e, const __m512i *map) {
    return _mm512_slli_epi32(context16(e, map), SCALE_BITS);
}

// 32 bits from each lane's bit `start` in the window (start < 8 + 15 × 30): eight bytes from the
// start's byte into a 64-bit lane (a byte permute of the 128-byte window), shifted.
static inline __attribute__((always_inline)) TARGET __m256i raw_half(__m512i lo, __m512i hi, __m256i start) {
    const __m512i spread = _mm512_set_epi8(56, 56, 56, 56, 56, 56, 56, 56, 48, 48, 48, 48, 48, 48, 48, 48,
                                           40, 40, 40, 40, 40, 40, 40, 40, 32, 32, 32, 32, 32, 32, 32, 32,
                                           24, 24, 24, 24, 24, 24, 24, 24, 16, 16, 16, 16, 16, 16, 16, 16,
                                           8, 8, 8, 8, 8, 8, 8, 8, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m512i ramp = _mm512_set1_epi64(0x0706050403020100);
    __m512i s = _mm512_cvtepu32_epi64(start);
    __m512i index = _mm512_add_epi8(_mm512_permutexvar_epi8(spread, _mm512_srli_epi64(s, 3)), ramp);
    __m512i bytes = _mm512_permutex2var_epi8(lo, index, hi);
    return _mm512_cvtepi64_epi32(_mm512_srlv_epi64(bytes, _mm512_and_si512(s, _mm512_set1_epi64(7))));
}

static inline __attribute__((always_inline)) TARGET __m512i raw_bits(__m512i start, const uint8_t *window) {
    __m512i lo = _mm512_loadu_si512((const void *)window), hi = _mm512_loadu_si512((const void *)(window + 64));
    return _mm512_inserti64x4(_mm512_castsi256_si512(raw_half(lo, hi, _mm512_castsi512_si256(start))),
                              raw_half(lo, hi, _mm512_extracti64x4_epi64(start, 1)), 1);
}

// One vector of 16 lanes of a group: advances its states `x`, the word pointer and the raw-bit
// position, and writes its 16 elements from element i.
static inline __attribute__((always_inline)) TARGET void run_vector(const Decode2Job *j, const __m512i *map, size_t i, __m512i *x,
                                                                    const uint8_t **wp, __m512i *position,
                                                                    __mmask16 *poisoned, const int kind, const int has_p2) {
    const __m512i zero = _mm512_setzero_si512(), one = _mm512_set1_epi32(1), two = _mm512_set1_epi32(2);
    const __m512i low12 = _mm512_set1_epi32(SCALE - 1), byte_mask = _mm512_set1_epi32(0xFF);
    const int bytes = kind == EMALOG_RANS_F32 ? 4 : 2;
    __m512i a = load16(j->p1 + i * bytes, kind);
    __m512i e = exponent16(a, kind);
    // rANS: symbol, state advanced, renormalised from the shared word stream.
    __m512i slot = _mm512_add_epi32(context_base(e, map), _mm512_and_si512(*x, low12));
    __m512i entry = _mm512_i32gather_epi32(slot, (const void *)j->m->slots, 4);
    __m512i symbol = _mm512_and_si512(entry, byte_mask);
    __mmask16 poison = _mm512_cmpeq_epi32_mask(symbol, byte_mask);
    *poisoned |= poison;
    symbol = _mm512_mask_mov_epi32(symbol, poison, zero); // keeps the raw reads in bounds
    __m512i freq = _mm512_add_epi32(_mm512_srli_epi32(entry, 20), one);
    __m512i y = _mm512_add_epi32(_mm512_mullo_epi32(freq, _mm512_srli_epi32(*x, SCALE_BITS)),
                                 _mm512_and_si512(_mm512_srli_epi32(entry, 8), low12));
    __mmask16 more = _mm512_cmplt_epu32_mask(y, _mm512_set1_epi32((int)RANS2_L));
    __m512i words = _mm512_maskz_expand_epi32(more, _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)*wp)));
    *x = _mm512_mask_or_epi32(y, more, _mm512_slli_epi32(y, 16), words);
    *wp += 2 * __builtin_popcount(more);

    // The symbol's shape: k = bit length, t = the bits after the leading one.
    __m512i k = _mm512_srli_epi32(symbol, 2), t = _mm512_and_si512(symbol, _mm512_set1_epi32(3));
    __m512i km1 = _mm512_sub_epi32(k, one);
    __m512i extra = _mm512_min_epi32(_mm512_max_epi32(km1, zero), two);
    __m512i low = _mm512_max_epi32(_mm512_sub_epi32(km1, extra), zero);
    __mmask16 nonzero = _mm512_cmpneq_epi32_mask(k, zero);
    __m512i width = _mm512_maskz_add_epi32(nonzero, low, one);
    __m512i base = _mm512_maskz_or_epi32(nonzero, _mm512_sllv_epi32(one, km1), _mm512_sllv_epi32(t, low));

    // Raw bits: each lane's start is the position plus the widths of the lanes before it.
    __m512i sum = width;
    sum = _mm512_add_epi32(sum, _mm512_alignr_epi32(sum, zero, 15));
    sum = _mm512_add_epi32(sum, _mm512_alignr_epi32(sum, zero, 14));
    sum = _mm512_add_epi32(sum, _mm512_alignr_epi32(sum, zero, 12));
    sum = _mm512_add_epi32(sum, _mm512_alignr_epi32(sum, zero, 8));
    // Relative to the 128-byte window at the position's byte (lane 15 starts before bit 8 + 15 × 30).
    uint32_t at = (uint32_t)_mm_cvtsi128_si32(_mm512_castsi512_si128(*position));
    const uint8_t *window = j->raw + (at >> 3);
    __m512i start = _mm512_add_epi32(_mm512_set1_epi32((int)(at & 7)), _mm512_sub_epi32(sum, width));
    *position = _mm512_add_epi32(*position, _mm512_permutexvar_epi32(_mm512_set1_epi32(15), sum));
    __m512i v = raw_bits(start, window);
    v = _mm512_and_si512(v, _mm512_sub_epi32(_mm512_sllv_epi32(one, width), one));
    __m512i u = _mm512_or_si512(base, _mm512_and_si512(v, _mm512_sub_epi32(_mm512_sllv_epi32(one, low), one)));
    __mmask16 negative = _mm512_test_epi32_mask(_mm512_srlv_epi32(v, low), one);
    __m512i r = _mm512_mask_sub_epi32(u, negative, zero, u);

    __m512i prediction = predict16(a, j->p2, i, kind, has_p2);
    __m512i out = _mm512_add_epi32(prediction, r);
    if (kind == EMALOG_RANS_F32) _mm512_storeu_si512((void *)(j->out + i * 4), out);
    else _mm256_storeu_si256((__m256i *)(j->out + i * 2), _mm512_cvtepi32_epi16(out));
}

// Whole groups of 16. (Two vectors of independent lanes per iteration were no faster: the loop
// is bound by throughput, the slot gather first, not by the state chain's latency.)
static inline __attribute__((always_inline)) TARGET void run_groups(Decode2Job *j, size_t groups, const int kind,
                                                                    const int has_p2) {
    const uint8_t *wp = j->words;
    __m512i x = _mm512_loadu_si512((const void *)j->state);
    __m512i position = _mm512_set1_epi32((int)j->position);
    __mmask16 poisoned = 0;
    uint8_t bytes[256];
    for (int e = 0; e < 256; e++) bytes[e] = (uint8_t)(j->m->map_base[e] / SCALE);
    __m512i map[4];
    load_map(map, bytes);
    size_t i = j->done;
    for (size_t g = 0; g < groups; g++, i += LANES2) run_vector(j, map, i, &x, &wp, &position, &poisoned, kind, has_p2);
    _mm512_storeu_si512((void *)j->state, x);
    j->words = wp;
    j->position = (uint32_t)_mm_cvtsi128_si32(_mm512_castsi512_si128(position));
    j->poisoned |= poisoned != 0;
    j->done = i;
}

// 16 elements of the encoder's first pass: symbols and contexts stored, the raw bits appended in
// eight pairs (two neighbours' bits in one 64-bit put; one by one when a pair would pass 56 bits).
static inline __attribute__((always_inline)) TARGET void classify_group(const uint8_t *x, const uint8_t *p1, const uint8_t *p2,
                                                                        size_t i, const __m512i *map, uint8_t *symbols,
                                                                        uint8_t *contexts, BitWriter *w, const int kind,
                                                                        const int has_p2) {
    const __m512i zero = _mm512_setzero_si512(), one = _mm512_set1_epi32(1), two = _mm512_set1_epi32(2);
    const int bytes = kind == EMALOG_RANS_F32 ? 4 : 2, width = kind == EMALOG_RANS_F32 ? 32 : 16;
    const __m512i mask = _mm512_set1_epi32(kind == EMALOG_RANS_F32 ? -1 : 0xFFFF);
    __m512i a = load16(p1 + i * bytes, kind);
    __m512i r = _mm512_and_si512(_mm512_sub_epi32(load16(x + i * bytes, kind), predict16(a, p2, i, kind, has_p2)), mask);
    __m512i sign = _mm512_srli_epi32(r, width - 1);
    __mmask16 negative = _mm512_test_epi32_mask(sign, one);
    __m512i u = _mm512_mask_and_epi32(r, negative, _mm512_sub_epi32(zero, r), mask);
    __m512i k = _mm512_sub_epi32(_mm512_set1_epi32(32), _mm512_lzcnt_epi32(u));
    __m512i km1 = _mm512_sub_epi32(k, one);
    __m512i extra = _mm512_min_epi32(_mm512_max_epi32(km1, zero), two);
    __m512i low = _mm512_max_epi32(_mm512_sub_epi32(km1, extra), zero);
    __m512i t = _mm512_and_si512(_mm512_srlv_epi32(u, low), _mm512_sub_epi32(_mm512_sllv_epi32(one, extra), one));
    __m512i symbol = _mm512_add_epi32(_mm512_slli_epi32(k, 2), t);
    __mmask16 nonzero = _mm512_cmpneq_epi32_mask(u, zero);
    __m512i n = _mm512_maskz_add_epi32(nonzero, low, one);
    __m512i raw = _mm512_or_si512(_mm512_and_si512(u, _mm512_sub_epi32(_mm512_sllv_epi32(one, low), one)),
                                  _mm512_sllv_epi32(sign, low));
    raw = _mm512_maskz_mov_epi32(nonzero, raw);
    _mm_storeu_si128((__m128i *)(symbols + i), _mm512_cvtepi32_epi8(symbol));
    _mm_storeu_si128((__m128i *)(contexts + i), _mm512_cvtepi32_epi8(context16(exponent16(a, kind), map)));
    // Pairs: even lane's bits, then the odd lane's above them.
    const __m512i low32 = _mm512_set1_epi64(0xFFFFFFFF);
    __m512i even_n = _mm512_and_si512(n, low32), odd_n = _mm512_srli_epi64(n, 32);
    __m512i pair = _mm512_or_si512(_mm512_and_si512(raw, low32), _mm512_sllv_epi64(_mm512_srli_epi64(raw, 32), even_n));
    __m512i pair_n = _mm512_add_epi64(even_n, odd_n);
    if (_mm512_cmpgt_epu64_mask(pair_n, _mm512_set1_epi64(56))) {
        uint32_t v[16], nv[16];
        _mm512_storeu_si512((void *)v, raw);
        _mm512_storeu_si512((void *)nv, n);
        for (int l = 0; l < 16; l++) bits_put(w, v[l], (int)nv[l]);
        return;
    }
    uint64_t v[8], nv[8];
    _mm512_storeu_si512((void *)v, pair);
    _mm512_storeu_si512((void *)nv, pair_n);
    for (int l = 0; l < 8; l++) bits_put64(w, v[l], (int)nv[l]);
}

static inline __attribute__((always_inline)) TARGET size_t classify_groups(const uint8_t *x, const uint8_t *p1, const uint8_t *p2,
                                                                           size_t n, const uint8_t *map_bytes, uint8_t *symbols,
                                                                           uint8_t *contexts, BitWriter *w, const int kind,
                                                                           const int has_p2) {
    __m512i map[4];
    load_map(map, map_bytes);
    BitWriter bw = *w;
    size_t i = 0;
    for (; i + 16 <= n; i += 16) classify_group(x, p1, p2, i, map, symbols, contexts, &bw, kind, has_p2);
    *w = bw;
    return i;
}

TARGET size_t emalog_rans2_classify_avx512(const uint8_t *x, const uint8_t *p1, const uint8_t *p2, size_t n, int kind,
                                           const uint8_t *map, uint8_t *symbols, uint8_t *contexts, BitWriter *w) {
    switch (kind * 2 + (p2 != 0)) {
    case EMALOG_RANS_F32 * 2: return classify_groups(x, p1, p2, n, map, symbols, contexts, w, EMALOG_RANS_F32, 0);
    case EMALOG_RANS_F32 * 2 + 1: return classify_groups(x, p1, p2, n, map, symbols, contexts, w, EMALOG_RANS_F32, 1);
    case EMALOG_RANS_BF16 * 2: return classify_groups(x, p1, p2, n, map, symbols, contexts, w, EMALOG_RANS_BF16, 0);
    case EMALOG_RANS_BF16 * 2 + 1: return classify_groups(x, p1, p2, n, map, symbols, contexts, w, EMALOG_RANS_BF16, 1);
    case EMALOG_RANS_F16 * 2: return classify_groups(x, p1, p2, n, map, symbols, contexts, w, EMALOG_RANS_F16, 0);
    default: return classify_groups(x, p1, p2, n, map, symbols, contexts, w, EMALOG_RANS_F16, 1);
    }
}

// x / freq exactly: x × inverse[freq] in double (x < 2^32 is exact there; inverse[freq] is the
// smallest double >= 1 / freq, see fill_inverse in rans.c), truncated.
static inline __attribute__((always_inline)) TARGET __m512i divide16(__m512i x, __m512i freq, const double *inverse) {
    __m256i lo = _mm512_cvttpd_epu32(_mm512_mul_pd(_mm512_cvtepu32_pd(_mm512_castsi512_si256(x)),
                                                   _mm512_i32gather_pd(_mm512_castsi512_si256(freq), inverse, 8)));
    __m256i hi = _mm512_cvttpd_epu32(_mm512_mul_pd(_mm512_cvtepu32_pd(_mm512_extracti64x4_epi64(x, 1)),
                                                   _mm512_i32gather_pd(_mm512_extracti64x4_epi64(freq, 1), inverse, 8)));
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

TARGET void emalog_rans2_encode_avx512(const uint8_t *symbols, const uint8_t *contexts, size_t groups, const uint32_t *packed,
                                       const double *inverse, uint32_t *state, uint8_t **q) {
    __m512i x = _mm512_loadu_si512((const void *)state);
    uint8_t *at = *q;
    const __m512i low12 = _mm512_set1_epi32(SCALE - 1);
    for (size_t g = groups; g-- > 0;) {
        __m512i c = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(contexts + 16 * g)));
        __m512i s = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(symbols + 16 * g)));
        __m512i index = _mm512_add_epi32(_mm512_mullo_epi32(c, _mm512_set1_epi32(MAX_SYMBOLS)), s);
        __m512i entry = _mm512_i32gather_epi32(index, (const void *)packed, 4);
        __m512i freq = _mm512_srli_epi32(entry, SCALE_BITS), start = _mm512_and_si512(entry, low12);
        // Renormalise: a lane whose state is at or past freq << 20 leaves its low 16 bits; the
        // group's words go below `at` in lane order (the decoder reads them that way).
        __mmask16 emit = _mm512_cmpge_epu32_mask(_mm512_srli_epi32(x, 20), freq);
        int count = __builtin_popcount(emit);
        __m256i words = _mm512_cvtepi32_epi16(_mm512_maskz_compress_epi32(emit, x));
        at -= 2 * count;
        _mm256_mask_storeu_epi16((void *)at, (__mmask16)((1u << count) - 1), words);
        x = _mm512_mask_srli_epi32(x, emit, x, 16);
        __m512i quotient = divide16(x, freq, inverse);
        x = _mm512_add_epi32(_mm512_add_epi32(_mm512_slli_epi32(quotient, SCALE_BITS), start),
                             _mm512_sub_epi32(x, _mm512_mullo_epi32(quotient, freq)));
    }
    _mm512_storeu_si512((void *)state, x);
    *q = at;
}

TARGET int emalog_rans2_decode_avx512(Decode2Job *j) {
    for (;;) {
        size_t room = vector_room(j);
        if (room < 4) return 1;
        switch (j->kind * 2 + (j->p2 != 0)) {
        case EMALOG_RANS_F32 * 2: run_groups(j, room, EMALOG_RANS_F32, 0); break;
        case EMALOG_RANS_F32 * 2 + 1: run_groups(j, room, EMALOG_RANS_F32, 1); break;
        case EMALOG_RANS_BF16 * 2: run_groups(j, room, EMALOG_RANS_BF16, 0); break;
        case EMALOG_RANS_BF16 * 2 + 1: run_groups(j, room, EMALOG_RANS_BF16, 1); break;
        case EMALOG_RANS_F16 * 2: run_groups(j, room, EMALOG_RANS_F16, 0); break;
        default: run_groups(j, room, EMALOG_RANS_F16, 1); break;
        }
    }
}

#else
int emalog_rans2_avx512_available(void) { return 0; }
int emalog_rans2_decode_avx512(Decode2Job *j) { (void)j; return 0; }
void emalog_rans2_encode_avx512(const uint8_t *symbols, const uint8_t *contexts, size_t groups, const uint32_t *packed,
                                const double *inverse, uint32_t *state, uint8_t **q) {
    (void)symbols; (void)contexts; (void)groups; (void)packed; (void)inverse; (void)state; (void)q;
}
size_t emalog_rans2_classify_avx512(const uint8_t *x, const uint8_t *p1, const uint8_t *p2, size_t n, int kind,
                                    const uint8_t *map, uint8_t *symbols, uint8_t *contexts, BitWriter *w) {
    (void)x; (void)p1; (void)p2; (void)n; (void)kind; (void)map; (void)symbols; (void)contexts; (void)w;
    return 0;
}
#endif
