#ifndef EMALOGSTOREC_H
#define EMALOGSTOREC_H
#include <stddef.h>
#include <stdint.h>

/// Byte planes: dst[k * n + i] = src[i * width + k] for n elements of `width` bytes.
void emalog_shuffle(const uint8_t *src, uint8_t *dst, size_t n, size_t width);
/// The inverse of emalog_shuffle.
void emalog_unshuffle(const uint8_t *src, uint8_t *dst, size_t n, size_t width);

/// Residuals of n little-endian elements of `width` bytes (1, 2, 4, 8) against the prediction
/// p1 (p2 NULL) or 2*p1 - p2 (wrapping), zigzag-coded. With mask != 0 the residuals are placed in
/// a stable counting sort by the key (p1 >> shift) & mask; `cursors` is scratch of mask + 2 entries.
void emalog_residual_encode(const void *x, const void *p1, const void *p2, void *out, size_t n, int width,
                            int shift, uint64_t mask, size_t *cursors);
/// The inverse: out[i] = prediction[i] + unzigzag(r[slot(i)]).
void emalog_residual_decode(const void *r, const void *p1, const void *p2, void *out, size_t n, int width,
                            int shift, uint64_t mask, size_t *cursors);

#endif
