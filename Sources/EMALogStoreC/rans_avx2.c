// The version 2 rANS decoder's loop for CPUs with AVX2 but not the AVX-512 set rans_avx512.c needs
// (Zen 2/3, Intel client chips, Skylake servers): each group of 16 elements as two vectors of 8
// lanes, lanes 0-7 first (the order the words were written). Gathers for the slot entries, a
// shuffle table for the words, 64-bit gathers for the raw bits. Same arithmetic as decode_one in
// rans.c.
#include "rans_internal.h"
#include <pthread.h>

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>

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

TARGET int emalog_rans2_decode_avx2(Decode2Job *j) {
    pthread_once(&expand_once, fill_expand);
    if (j->raw_size >= (1u << 28)) return 0;
    for (;;) {
        // As the AVX-512 loop: at most 16 words per group (two 16-byte loads), the raw-bit
        // gathers read 8 bytes from a start at most 60 bytes past the position's byte.
        size_t room = (j->n - j->done) / LANES2;
        size_t words = (size_t)(j->words_end - j->words) / 32;
        uint64_t need = (j->position >> 3) + 128;
        size_t bits = j->raw_size > need ? (size_t)((j->raw_size - need) / 64) : 0;
        if (words < room) room = words;
        if (bits < room) room = bits;
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
#endif
