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

/// Element kinds of the rANS residual coder: the prediction runs in the value's own arithmetic
/// (float for F32 and BF16; wrapping integers on F16 bit patterns).
enum { EMALOG_RANS_F32 = 1, EMALOG_RANS_BF16 = 2, EMALOG_RANS_F16 = 3 };

/// Bytes of `out` that emalog_rans_encode needs for n elements.
size_t emalog_rans_bound(size_t n);
/// Bytes of `scratch` that emalog_rans_encode needs for n elements.
size_t emalog_rans_scratch_size(size_t n);
/// Codes n elements of x against the prediction from p1 (and p2, or NULL): the residual's
/// magnitude class in rANS with one table per exponent of p1, low bits and sign raw.
/// `scratch` holds emalog_rans_scratch_size(n) bytes. Returns the payload size, 0 when
/// `cap` < emalog_rans_bound(n). The passes run the widest loops the CPU has up to `vectors`: 2
/// AVX-512, 1 AVX2 (the first pass only), 0 scalar (the same payload, byte for byte; tests
/// compare).
///
/// A chunk of 65536 elements or more is two contiguous segments (two threads when `threads` >= 2
/// encode or decode it; the payload does not depend on `threads`). In a segment, element i belongs
/// to lane i mod 16; the 16 lanes' rANS states (32-bit, in [2^16, 2^32), 16-bit renormalisation)
/// share one stream of words in the order a decoder reads them; raw bits are one stream in element
/// order.
/// Payload (version 2): u8 version, u8 kind, u8 contexts C, u8 mapped M, M × (u8 exponent,
/// u8 context), C × (u8 symbols S, S × (u8 symbol, u16 frequency)), G × u32 rANS bytes,
/// G × u32 raw bytes (G segments), the G rANS streams (16 × u32 states, then u16 words), the G raw
/// streams. Version 1 payloads (two lanes per segment, byte-wise renormalisation) still decode.
size_t emalog_rans_encode(const void *x, const void *p1, const void *p2, size_t n, int kind,
                          uint8_t *scratch, uint8_t *out, size_t cap, int threads, int vectors);
/// The inverse; 0 on success, a negative code when the payload is malformed (nothing is trusted:
/// every table, length and stream end is checked). A version 2 payload is decoded by the widest
/// loop the CPU has up to `vectors`: 2 AVX-512, 1 AVX2, 0 scalar (same values, same refusals; tests
/// compare).
int emalog_rans_decode(const uint8_t *payload, size_t size, const void *p1, const void *p2, void *out, size_t n,
                       int kind, int threads, int vectors);
/// The vector encoder divides a 32-bit state by a frequency through a double reciprocal; checks
/// that against integer division for every frequency on `samples` values each (random, multiples,
/// one below a multiple, the top of the range). Returns the mismatches (tests expect none).
size_t emalog_rans_check_division(size_t samples);
/// Whether this CPU runs the vector loops (AVX-512 F, BW, CD, VL and VBMI).
int emalog_rans_vectors_available(void);
/// Whether this CPU runs the AVX2 decoder (used where the AVX-512 loops are not).
int emalog_rans_avx2_available(void);

#endif
