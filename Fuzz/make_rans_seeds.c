// Writes the version 2 seeds of Fuzz/corpus/Rans: payloads encoded against RansFuzz.c's predecessor
// patterns (one and two segments, each kind). Build: clang -O1 -I../Sources/EMALogStoreC/include
// -I../Sources/EMALogStoreC make_rans_seeds.c ../Sources/EMALogStoreC/rans*.c -o seeds && ./seeds corpus/Rans
#include "EMALogStoreC.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static uint8_t pattern1[140000 * 4], pattern2[140000 * 4];
static void seed(int kind, int has_p2, size_t n, const char *dir) {
    size_t width = kind == EMALOG_RANS_F32 ? 4 : 2;
    uint8_t *x = malloc(n * width);
    memcpy(x, pattern1, n * width);
    for (size_t i = 0; i < n; i++) x[i * width] ^= (uint8_t)((i * 7) % 5); // small residuals in the low byte
    size_t cap = emalog_rans_bound(n);
    uint8_t *out = malloc(cap + 5), *scratch = malloc(emalog_rans_scratch_size(n));
    size_t size = emalog_rans_encode(x, pattern1, has_p2 ? pattern2 : NULL, n, kind, scratch, out + 5, cap, 1, 2);
    out[0] = (uint8_t)((kind - 1) | has_p2 << 2);
    out[1] = 0;
    out[2] = (uint8_t)n; out[3] = (uint8_t)(n >> 8); out[4] = (uint8_t)(n >> 16);
    char path[256];
    snprintf(path, sizeof path, "%s/seed-v2-k%d-p%d-n%zu", dir, kind, has_p2, n);
    FILE *f = fopen(path, "wb"); fwrite(out, 1, size + 5, f); fclose(f);
    printf("%s %zu bytes\n", path, size + 5);
}
int main(int argc, char **argv) {
    for (size_t i = 0; i < sizeof pattern1; i++) { pattern1[i] = (uint8_t)(i * 131 + 7); pattern2[i] = (uint8_t)(i * 61 + 3); }
    seed(EMALOG_RANS_F32, 1, 4100, argv[1]);
    seed(EMALOG_RANS_BF16, 0, 5003, argv[1]);
    seed(EMALOG_RANS_F16, 1, 70001, argv[1]);
}
