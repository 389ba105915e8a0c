#include "EMALogStoreC.h"
#include <string.h>

// Bit-exact float arithmetic in every build: no contraction into fused multiply-adds.
#pragma clang fp contract(off)

void emalog_shuffle(const uint8_t *src, uint8_t *dst, size_t n, size_t width) {
    if (width == 1) { memcpy(dst, src, n); return; }
    for (size_t k = 0; k < width; k++) {
        uint8_t *plane = dst + k * n;
        for (size_t i = 0; i < n; i++) plane[i] = src[i * width + k];
    }
}

void emalog_unshuffle(const uint8_t *src, uint8_t *dst, size_t n, size_t width) {
    if (width == 1) { memcpy(dst, src, n); return; }
    for (size_t k = 0; k < width; k++) {
        const uint8_t *plane = src + k * n;
        for (size_t i = 0; i < n; i++) dst[i * width + k] = plane[i];
    }
}

// Buffers may be unaligned (safetensors packs tensors back to back): element types with alignment 1.
typedef uint8_t u8a;
typedef uint16_t __attribute__((aligned(1))) u16a;
typedef uint32_t __attribute__((aligned(1))) u32a;
typedef uint64_t __attribute__((aligned(1))) u64a;

#define RESIDUALS(T, BITS)                                                                        \
/* cur[b] = first slot of bucket b in a stable counting sort by (p1 >> shift) & mask. */            \
static void bucket_starts_##BITS(const T *p1, size_t n, int shift, uint64_t mask, size_t *cur) {   \
    memset(cur, 0, (mask + 2) * sizeof(size_t));                                                   \
    for (size_t i = 0; i < n; i++) cur[((uint64_t)p1[i] >> shift & mask) + 1]++;                   \
    for (uint64_t b = 1; b <= mask + 1; b++) cur[b] += cur[b - 1];                                 \
}                                                                                                  \
static void encode_##BITS(const T *x, const T *p1, const T *p2, T *out, size_t n, int shift,       \
                          uint64_t mask, size_t *cur) {                                            \
    if (mask) bucket_starts_##BITS(p1, n, shift, mask, cur);                                      \
    for (size_t i = 0; i < n; i++) {                                                               \
        T pred = p2 ? (T)(p1[i] + p1[i] - p2[i]) : p1[i];                                          \
        T r = (T)(x[i] - pred);                                                                    \
        T z = (T)((T)(r << 1) ^ (T)(0 - (r >> (BITS - 1))));                                       \
        size_t slot = mask ? cur[(uint64_t)p1[i] >> shift & mask]++ : i;                           \
        out[slot] = z;                                                                             \
    }                                                                                              \
}                                                                                                  \
static void decode_##BITS(const T *r, const T *p1, const T *p2, T *out, size_t n, int shift,       \
                          uint64_t mask, size_t *cur) {                                            \
    if (mask) bucket_starts_##BITS(p1, n, shift, mask, cur);                                      \
    for (size_t i = 0; i < n; i++) {                                                               \
        T pred = p2 ? (T)(p1[i] + p1[i] - p2[i]) : p1[i];                                          \
        size_t slot = mask ? cur[(uint64_t)p1[i] >> shift & mask]++ : i;                           \
        T z = r[slot];                                                                             \
        T v = (T)((T)(z >> 1) ^ (T)(0 - (z & 1)));                                                 \
        out[i] = (T)(pred + v);                                                                    \
    }                                                                                              \
}

RESIDUALS(u8a, 8)
RESIDUALS(u16a, 16)
RESIDUALS(u32a, 32)
RESIDUALS(u64a, 64)

void emalog_residual_encode(const void *x, const void *p1, const void *p2, void *out, size_t n, int width,
                            int shift, uint64_t mask, size_t *cursors) {
    switch (width) {
    case 1: encode_8(x, p1, p2, out, n, shift, mask, cursors); break;
    case 2: encode_16(x, p1, p2, out, n, shift, mask, cursors); break;
    case 4: encode_32(x, p1, p2, out, n, shift, mask, cursors); break;
    default: encode_64(x, p1, p2, out, n, shift, mask, cursors); break;
    }
}

void emalog_residual_decode(const void *r, const void *p1, const void *p2, void *out, size_t n, int width,
                            int shift, uint64_t mask, size_t *cursors) {
    switch (width) {
    case 1: decode_8(r, p1, p2, out, n, shift, mask, cursors); break;
    case 2: decode_16(r, p1, p2, out, n, shift, mask, cursors); break;
    case 4: decode_32(r, p1, p2, out, n, shift, mask, cursors); break;
    default: decode_64(r, p1, p2, out, n, shift, mask, cursors); break;
    }
}
