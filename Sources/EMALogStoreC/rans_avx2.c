// The version 2 rANS coder's loops for CPUs with AVX2 but not the AVX-512 set rans_avx512.c needs
// (Zen 2/3, Intel client chips, Skylake servers). The decoder takes each group of 16 elements as
// two vectors of 8 lanes, lanes 0-7 first (the order the words were written): gathers for the slot
// entries, a shuffle table for the words, 64-bit gathers for the raw bits. The encoder's first pass
// takes 8 elements at a time. Same arithmetic as decode_one and classify_one in rans.c.
#include "rans_internal.h"
#include <pthread.h>

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>

// Bit-exact float arithmetic in every build: no contraction into fused multiply-adds.
#pragma clang fp contract(off)

#define TARGET __attribute__((target("avx2,popcnt")))

int emalog_rans2_avx2_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2");
}

// expand[m]: for each lane, the index of its word among the lanes set in m (lanes not in m: any).
static int32_t expand[256][8];
static pthread_once_t expand_once = PTHREAD_ONCE_INIT;

static void fill_expand(void) {
    for (int m = 0; m < 256; m++) {
        int next = 0;
        for (int l = 0; l < 8; l++) expand[m][l] = (m >> l) & 1 ? next++ : 0;
    }
}

static inline __attribute__((always_inline)) TARGET __m256i load8(const uint8_t *p, const int kind) {
    if (kind == EMALOG_RANS_F32) return _mm256_loadu_si256((const __m256i *)p);
    return _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
}

static inline __attribute__((always_inline)) TARGET __m256i predict8(__m256i a, const uint8_t *p2, size_t i, const int kind,
                                                                     const int has_p2) {
    if (!has_p2) return a;
    const __m256i one = _mm256_set1_epi32(1);
    __m256i b = load8(p2 + i * (kind == EMALOG_RANS_F32 ? 4 : 2), kind);
    if (kind == EMALOG_RANS_F32) {
        __m256 f1 = _mm256_castsi256_ps(a), f2 = _mm256_castsi256_ps(b);
        __m256 p = _mm256_add_ps(f1, _mm256_sub_ps(f1, f2));
        __m256i prediction = _mm256_blendv_epi8(_mm256_castps_si256(p), _mm256_set1_epi32(0x7FC00000),
                                                _mm256_castps_si256(_mm256_cmp_ps(p, p, _CMP_UNORD_Q)));
        return _mm256_blendv_epi8(prediction, a, _mm256_cmpeq_epi32(a, b));
    }
    if (kind == EMALOG_RANS_BF16) {
        __m256 f1 = _mm256_castsi256_ps(_mm256_slli_epi32(a, 16)), f2 = _mm256_castsi256_ps(_mm256_slli_epi32(b, 16));
        __m256 p = _mm256_add_ps(f1, _mm256_sub_ps(f1, f2));
        __m256i w = _mm256_castps_si256(p);
        __m256i rounded = _mm256_srli_epi32(
            _mm256_add_epi32(_mm256_add_epi32(w, _mm256_set1_epi32(0x7FFF)), _mm256_and_si256(_mm256_srli_epi32(w, 16), one)), 16);
        rounded = _mm256_blendv_epi8(rounded, _mm256_set1_epi32(0x7FC0), _mm256_castps_si256(_mm256_cmp_ps(p, p, _CMP_UNORD_Q)));
        return _mm256_blendv_epi8(rounded, a, _mm256_cmpeq_epi32(a, b));
    }
    return _mm256_and_si256(_mm256_sub_epi32(_mm256_slli_epi32(a, 1), b), _mm256_set1_epi32(0xFFFF));
}

// Eight lanes from element i: states `x`, the word pointer and the raw-bit position advanced.
static inline __attribute__((always_inline)) TARGET void run_half(const Decode2Job *j, size_t i, __m256i *x, const uint8_t **wp,
                                                                  __m256i *position, int *poisoned, const int kind,
                                                                  const int has_p2) {
    const __m256i zero = _mm256_setzero_si256(), one = _mm256_set1_epi32(1), two = _mm256_set1_epi32(2);
    const __m256i low12 = _mm256_set1_epi32(SCALE - 1), byte_mask = _mm256_set1_epi32(0xFF);
    const int bytes = kind == EMALOG_RANS_F32 ? 4 : 2;
    __m256i a = load8(j->p1 + i * bytes, kind);
    __m256i e = kind == EMALOG_RANS_F32    ? _mm256_and_si256(_mm256_srli_epi32(a, 23), byte_mask)
                : kind == EMALOG_RANS_BF16 ? _mm256_and_si256(_mm256_srli_epi32(a, 7), byte_mask)
                                           : _mm256_and_si256(_mm256_srli_epi32(a, 10), _mm256_set1_epi32(0x1F));
    __m256i slot = _mm256_add_epi32(_mm256_i32gather_epi32((const int *)j->m->map_base, e, 4), _mm256_and_si256(*x, low12));
    __m256i entry = _mm256_i32gather_epi32((const int *)j->m->slots, slot, 4);
    __m256i symbol = _mm256_and_si256(entry, byte_mask);
    __m256i poison = _mm256_cmpeq_epi32(symbol, byte_mask);
    *poisoned |= _mm256_movemask_epi8(poison);
    symbol = _mm256_andnot_si256(poison, symbol); // keeps the raw reads in bounds
    __m256i freq = _mm256_add_epi32(_mm256_srli_epi32(entry, 20), one);
    __m256i y = _mm256_add_epi32(_mm256_mullo_epi32(freq, _mm256_srli_epi32(*x, SCALE_BITS)),
                                 _mm256_and_si256(_mm256_srli_epi32(entry, 8), low12));
    __m256i more = _mm256_cmpeq_epi32(_mm256_srli_epi32(y, 16), zero);
    int m = _mm256_movemask_ps(_mm256_castsi256_ps(more));
    __m256i words = _mm256_permutevar8x32_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)*wp)),
                                                _mm256_loadu_si256((const __m256i *)expand[m]));
    *x = _mm256_blendv_epi8(y, _mm256_or_si256(_mm256_slli_epi32(y, 16), words), more);
    *wp += 2 * __builtin_popcount((unsigned)m);

    __m256i k = _mm256_srli_epi32(symbol, 2), t = _mm256_and_si256(symbol, _mm256_set1_epi32(3));
    __m256i km1 = _mm256_sub_epi32(k, one);
    __m256i extra = _mm256_min_epi32(_mm256_max_epi32(km1, zero), two);
    __m256i low = _mm256_max_epi32(_mm256_sub_epi32(km1, extra), zero);
    __m256i nonzero = _mm256_cmpgt_epi32(k, zero);
    __m256i width = _mm256_and_si256(nonzero, _mm256_add_epi32(low, one));
    __m256i base = _mm256_and_si256(nonzero, _mm256_or_si256(_mm256_sllv_epi32(one, km1), _mm256_sllv_epi32(t, low)));

    // Raw bits: prefix sums within each 128-bit half, then the low half's total added above.
    __m256i sum = _mm256_add_epi32(width, _mm256_slli_si256(width, 4));
    sum = _mm256_add_epi32(sum, _mm256_slli_si256(sum, 8));
    __m256i carry = _mm256_permutevar8x32_epi32(sum, _mm256_set1_epi32(3));
    sum = _mm256_add_epi32(sum, _mm256_blend_epi32(zero, carry, 0xF0));
    __m256i start = _mm256_add_epi32(*position, _mm256_sub_epi32(sum, width));
    *position = _mm256_add_epi32(*position, _mm256_permutevar8x32_epi32(sum, _mm256_set1_epi32(7)));
    __m256i at = _mm256_srli_epi32(start, 3), shift = _mm256_and_si256(start, _mm256_set1_epi32(7));
    __m256i lo = _mm256_i32gather_epi64((const long long *)j->raw, _mm256_castsi256_si128(at), 1);
    __m256i hi = _mm256_i32gather_epi64((const long long *)j->raw, _mm256_extracti128_si256(at, 1), 1);
    lo = _mm256_srlv_epi64(lo, _mm256_cvtepu32_epi64(_mm256_castsi256_si128(shift)));
    hi = _mm256_srlv_epi64(hi, _mm256_cvtepu32_epi64(_mm256_extracti128_si256(shift, 1)));
    const __m256i evens = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
    __m256i v = _mm256_blend_epi32(_mm256_permutevar8x32_epi32(lo, evens), _mm256_permutevar8x32_epi32(hi, evens), 0xF0);
    v = _mm256_and_si256(v, _mm256_sub_epi32(_mm256_sllv_epi32(one, width), one));
    __m256i u = _mm256_or_si256(base, _mm256_and_si256(v, _mm256_sub_epi32(_mm256_sllv_epi32(one, low), one)));
    __m256i negative = _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_srlv_epi32(v, low), one), one);
    __m256i r = _mm256_blendv_epi8(u, _mm256_sub_epi32(zero, u), negative);

    __m256i out = _mm256_add_epi32(predict8(a, j->p2, i, kind, has_p2), r);
    if (kind == EMALOG_RANS_F32) {
        _mm256_storeu_si256((__m256i *)(j->out + i * 4), out);
    } else {
        __m256i packed = _mm256_packus_epi32(_mm256_and_si256(out, _mm256_set1_epi32(0xFFFF)), zero);
        _mm_storeu_si128((__m128i *)(j->out + i * 2), _mm256_castsi256_si128(_mm256_permute4x64_epi64(packed, 0x08)));
    }
}

static inline __attribute__((always_inline)) TARGET void run_groups(Decode2Job *j, size_t groups, const int kind,
                                                                    const int has_p2) {
    const uint8_t *wp = j->words;
    __m256i x0 = _mm256_loadu_si256((const __m256i *)j->state), x1 = _mm256_loadu_si256((const __m256i *)(j->state + 8));
    __m256i position = _mm256_set1_epi32((int)j->position);
    int poisoned = 0;
    size_t i = j->done;
    for (size_t g = 0; g < groups; g++, i += LANES2) {
        run_half(j, i, &x0, &wp, &position, &poisoned, kind, has_p2);
        run_half(j, i + 8, &x1, &wp, &position, &poisoned, kind, has_p2);
    }
    _mm256_storeu_si256((__m256i *)j->state, x0);
    _mm256_storeu_si256((__m256i *)(j->state + 8), x1);
    j->words = wp;
    j->position = (uint32_t)_mm_cvtsi128_si32(_mm256_castsi256_si128(position));
    j->poisoned |= poisoned != 0;
    j->done = i;
}

// 8 elements of the encoder's first pass, as classify_one in rans.c: symbols and contexts stored,
// the raw bits appended in four pairs (one by one when a pair would pass 56 bits).
static inline __attribute__((always_inline)) TARGET void classify8(const uint8_t *x, const uint8_t *p1, const uint8_t *p2,
                                                                   size_t i, const int32_t *map, uint8_t *symbols,
                                                                   uint8_t *contexts, BitWriter *w, const int kind,
                                                                   const int has_p2) {
    const __m256i zero = _mm256_setzero_si256(), one = _mm256_set1_epi32(1), two = _mm256_set1_epi32(2);
    const int bytes = kind == EMALOG_RANS_F32 ? 4 : 2, width = kind == EMALOG_RANS_F32 ? 32 : 16;
    const __m256i mask = _mm256_set1_epi32(kind == EMALOG_RANS_F32 ? -1 : 0xFFFF);
    __m256i a = load8(p1 + i * bytes, kind);
    __m256i r = _mm256_and_si256(_mm256_sub_epi32(load8(x + i * bytes, kind), predict8(a, p2, i, kind, has_p2)), mask);
    __m256i sign = _mm256_srli_epi32(r, width - 1);
    __m256i negative = _mm256_cmpeq_epi32(sign, one);
    __m256i u = _mm256_blendv_epi8(r, _mm256_and_si256(_mm256_sub_epi32(zero, r), mask), negative);
    // Bit length: the top bit alone (smeared down, then xor), whose float exponent is exact.
    __m256i smear = _mm256_or_si256(u, _mm256_srli_epi32(u, 1));
    smear = _mm256_or_si256(smear, _mm256_srli_epi32(smear, 2));
    smear = _mm256_or_si256(smear, _mm256_srli_epi32(smear, 4));
    smear = _mm256_or_si256(smear, _mm256_srli_epi32(smear, 8));
    smear = _mm256_or_si256(smear, _mm256_srli_epi32(smear, 16));
    __m256i top = _mm256_xor_si256(smear, _mm256_srli_epi32(smear, 1));
    __m256i exponent = _mm256_and_si256(_mm256_srli_epi32(_mm256_castps_si256(_mm256_cvtepi32_ps(top)), 23), _mm256_set1_epi32(0xFF));
    __m256i k = _mm256_max_epi32(_mm256_sub_epi32(exponent, _mm256_set1_epi32(126)), zero);
    __m256i km1 = _mm256_sub_epi32(k, one);
    __m256i extra = _mm256_min_epi32(_mm256_max_epi32(km1, zero), two);
    __m256i low = _mm256_max_epi32(_mm256_sub_epi32(km1, extra), zero);
    __m256i t = _mm256_and_si256(_mm256_srlv_epi32(u, low), _mm256_sub_epi32(_mm256_sllv_epi32(one, extra), one));
    __m256i symbol = _mm256_add_epi32(_mm256_slli_epi32(k, 2), t);
    __m256i nonzero = _mm256_xor_si256(_mm256_cmpeq_epi32(u, zero), _mm256_set1_epi32(-1));
    __m256i n = _mm256_and_si256(nonzero, _mm256_add_epi32(low, one));
    __m256i raw = _mm256_and_si256(nonzero, _mm256_or_si256(_mm256_and_si256(u, _mm256_sub_epi32(_mm256_sllv_epi32(one, low), one)),
                                                            _mm256_sllv_epi32(sign, low)));
    __m256i e = kind == EMALOG_RANS_F32    ? _mm256_and_si256(_mm256_srli_epi32(a, 23), _mm256_set1_epi32(0xFF))
                : kind == EMALOG_RANS_BF16 ? _mm256_and_si256(_mm256_srli_epi32(a, 7), _mm256_set1_epi32(0xFF))
                                           : _mm256_and_si256(_mm256_srli_epi32(a, 10), _mm256_set1_epi32(0x1F));
    __m256i context = _mm256_i32gather_epi32(map, e, 4);
    // Bytes: pack 32 -> 16 -> 8 bits (within 128-bit halves), then the two halves' first dwords.
    const __m256i firsts = _mm256_setr_epi32(0, 4, 0, 0, 0, 0, 0, 0);
    __m256i s8 = _mm256_packus_epi16(_mm256_packus_epi32(symbol, zero), zero);
    __m256i c8 = _mm256_packus_epi16(_mm256_packus_epi32(context, zero), zero);
    _mm_storel_epi64((__m128i *)(symbols + i), _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(s8, firsts)));
    _mm_storel_epi64((__m128i *)(contexts + i), _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(c8, firsts)));
    // Pairs: even lane's bits, then the odd lane's above them.
    const __m256i low32 = _mm256_set1_epi64x(0xFFFFFFFF);
    __m256i even_n = _mm256_and_si256(n, low32), odd_n = _mm256_srli_epi64(n, 32);
    __m256i pair = _mm256_or_si256(_mm256_and_si256(raw, low32), _mm256_sllv_epi64(_mm256_srli_epi64(raw, 32), even_n));
    __m256i pair_n = _mm256_add_epi64(even_n, odd_n);
    if (_mm256_movemask_epi8(_mm256_cmpgt_epi64(pair_n, _mm256_set1_epi64x(56)))) {
        uint32_t v[8], nv[8];
        _mm256_storeu_si256((__m256i *)v, raw);
        _mm256_storeu_si256((__m256i *)nv, n);
        for (int l = 0; l < 8; l++) bits_put(w, v[l], (int)nv[l]);
        return;
    }
    uint64_t v[4], nv[4];
    _mm256_storeu_si256((__m256i *)v, pair);
    _mm256_storeu_si256((__m256i *)nv, pair_n);
    for (int l = 0; l < 4; l++) bits_put64(w, v[l], (int)nv[l]);
}

static inline __attribute__((always_inline)) TARGET size_t classify_groups(const uint8_t *x, const uint8_t *p1, const uint8_t *p2,
                                                                           size_t n, const uint8_t *map_bytes, uint8_t *symbols,
                                                                           uint8_t *contexts, BitWriter *w, const int kind,
                                                                           const int has_p2) {
    int32_t map[256];
    for (int e = 0; e < 256; e++) map[e] = map_bytes[e];
    BitWriter bw = *w;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) classify8(x, p1, p2, i, map, symbols, contexts, &bw, kind, has_p2);
    *w = bw;
    return i;
}

TARGET size_t emalog_rans2_classify_avx2(const uint8_t *x, const uint8_t *p1, const uint8_t *p2, size_t n, int kind,
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

TARGET int emalog_rans2_decode_avx2(Decode2Job *j) {
    pthread_once(&expand_once, fill_expand);
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
int emalog_rans2_avx2_available(void) { return 0; }
int emalog_rans2_decode_avx2(Decode2Job *j) { (void)j; return 0; }
size_t emalog_rans2_classify_avx2(const uint8_t *x, const uint8_t *p1, const uint8_t *p2, size_t n, int kind,
                                  const uint8_t *map, uint8_t *symbols, uint8_t *contexts, BitWriter *w) {
    (void)x; (void)p1; (void)p2; (void)n; (void)kind; (void)map; (void)symbols; (void)contexts; (void)w;
    return 0;
}
#endif
