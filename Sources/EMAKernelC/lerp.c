#include "EMAKernelC.h"
#include <math.h>

// No contraction anywhere in this file: every fused operation is an explicit fmaf.
#pragma clang fp contract(off)

static void lerp_portable(float *s, const float *t, long n, float w, float wm1) {
    if (w < 0.5f) {
        for (long i = 0; i < n; i++) { float d = t[i] - s[i]; s[i] = fmaf(w, d, s[i]); }
    } else {
        for (long i = 0; i < n; i++) { float d = t[i] - s[i]; s[i] = fmaf(wm1, d, t[i]); }
    }
}

void emalog_lerp_f32_portable(float *s, const float *t, long n, float w, float wm1) { lerp_portable(s, t, n, w, wm1); }

static void sub_fma_portable(float *s, const float *t, long n, float w) {
    for (long i = 0; i < n; i++) { float d = t[i] - s[i]; s[i] = fmaf(w, d, s[i]); }
}

void emalog_sub_fma_f32_portable(float *s, const float *t, long n, float w) { sub_fma_portable(s, t, n, w); }

#if defined(__x86_64__)
__attribute__((target("avx2,fma")))
static void lerp_fma(float *restrict s, const float *restrict t, long n, float w, float wm1) {
    if (w < 0.5f) {
        for (long i = 0; i < n; i++) { float d = t[i] - s[i]; s[i] = __builtin_fmaf(w, d, s[i]); }
    } else {
        for (long i = 0; i < n; i++) { float d = t[i] - s[i]; s[i] = __builtin_fmaf(wm1, d, t[i]); }
    }
}

__attribute__((target("avx2,fma")))
static void sub_fma_fma(float *restrict s, const float *restrict t, long n, float w) {
    for (long i = 0; i < n; i++) { float d = t[i] - s[i]; s[i] = __builtin_fmaf(w, d, s[i]); }
}

int emalog_lerp_uses_fma(void) {
    static int cached = -1;
    if (cached < 0) { __builtin_cpu_init(); cached = __builtin_cpu_supports("fma") && __builtin_cpu_supports("avx2"); }
    return cached;
}

void emalog_lerp_f32(float *s, const float *t, long n, float w, float wm1) {
    if (emalog_lerp_uses_fma()) lerp_fma(s, t, n, w, wm1); else lerp_portable(s, t, n, w, wm1);
}

void emalog_sub_fma_f32(float *s, const float *t, long n, float w) {
    if (emalog_lerp_uses_fma()) sub_fma_fma(s, t, n, w); else sub_fma_portable(s, t, n, w);
}
#else
int emalog_lerp_uses_fma(void) { return 0; }
void emalog_lerp_f32(float *s, const float *t, long n, float w, float wm1) { lerp_portable(s, t, n, w, wm1); }
void emalog_sub_fma_f32(float *s, const float *t, long n, float w) { sub_fma_portable(s, t, n, w); }
#endif
