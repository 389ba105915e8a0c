// libFuzzer target for the rANS residual decoder: any payload is decoded or refused, never read or
// written out of bounds (AddressSanitizer); the scalar, AVX2 and AVX-512 decoders agree (status
// and values), so do the three encoders (payloads); an accepted payload re-encodes to itself.
// Input: u8 kind/predecessor selector, u8 thread count, u24 element count, payload.
// Built by Fuzz/run.sh with clang -fsanitize=fuzzer,address.
#include "EMALogStoreC.h"
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 5) return 0;
    int kind = 1 + (data[0] & 3) % 3, has_p2 = (data[0] >> 2) & 1, threads = 1 + (data[1] & 1);
    size_t n = ((size_t)data[2] | (size_t)data[3] << 8 | (size_t)data[4] << 16) % 140000;
    const uint8_t *payload = data + 5;
    size_t length = size - 5;
    size_t width = kind == EMALOG_RANS_F32 ? 4 : 2;
    // Predecessors with a spread of exponents (several contexts), deterministic; each buffer
    // exactly its size, so AddressSanitizer sees any access past it.
    static uint8_t pattern1[140000 * 4], pattern2[140000 * 4];
    static int filled = 0;
    if (!filled) {
        for (size_t i = 0; i < sizeof pattern1; i++) {
            pattern1[i] = (uint8_t)(i * 131 + 7);
            pattern2[i] = (uint8_t)(i * 61 + 3);
        }
        filled = 1;
    }
    uint8_t *p1 = malloc(n * width), *p2 = malloc(n * width), *out = malloc(n * width);
    memcpy(p1, pattern1, n * width);
    memcpy(p2, pattern2, n * width);
    int status = emalog_rans_decode(payload, length, p1, has_p2 ? p2 : NULL, out, n, kind, threads, 2);
    uint8_t *other = malloc(n * width + 1);
    for (int level = 0; level <= 1; level++) {  // scalar, AVX2
        int other_status = emalog_rans_decode(payload, length, p1, has_p2 ? p2 : NULL, other, n, kind, threads, level);
        if (other_status != status || (status == 0 && memcmp(other, out, n * width) != 0)) abort();
    }
    free(other);
    if (status == 0 && n > 0) {
        // Accepted: the decoded values encode back to a payload that decodes to the same values.
        size_t cap = emalog_rans_bound(n);
        uint8_t *again = malloc(cap), *scratch = malloc(emalog_rans_scratch_size(n)), *back = malloc(n * width);
        size_t written = emalog_rans_encode(out, p1, has_p2 ? p2 : NULL, n, kind, scratch, again, cap, threads, 2);
        if (written == 0 || emalog_rans_decode(again, written, p1, has_p2 ? p2 : NULL, back, n, kind, 3 - threads, 2) != 0 ||
            memcmp(back, out, n * width) != 0)
            abort();
        // The AVX2 and scalar encoders write the same payload as the widest one.
        uint8_t *other_payload = malloc(cap);
        for (int level = 0; level <= 1; level++)
            if (emalog_rans_encode(out, p1, has_p2 ? p2 : NULL, n, kind, scratch, other_payload, cap, threads, level) != written ||
                memcmp(other_payload, again, written) != 0)
                abort();
        free(other_payload);
        free(again);
        free(scratch);
        free(back);
    }
    free(p1);
    free(p2);
    free(out);
    return 0;
}
