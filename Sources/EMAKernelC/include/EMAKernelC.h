#ifndef EMAKERNELC_H
#define EMAKERNELC_H

/// torch's CPU lerp on Float32, in place: d = theta - shadow; shadow = fma(w, d, shadow) when
/// w < 0.5, else fma(w - 1, d, theta). Uses the CPU's FMA unit (vectorised) when it has one and
/// libm's fmaf otherwise: both are the exactly rounded fused multiply-add, so results are identical.
void emalog_lerp_f32(float *shadow, const float *theta, long count, float w, float w_minus_1);

/// The same with libm's fmaf, whatever the CPU (tests compare both paths).
void emalog_lerp_f32_portable(float *shadow, const float *theta, long count, float w, float w_minus_1);

/// diffusers' foreach update, `_foreach_sub_(s, s - theta, alpha=w)`, which torch's CPU add fuses:
/// shadow = fma(-w, shadow - theta, shadow) = fma(w, theta - shadow, shadow) (the difference is
/// negated exactly), vectorised like the lerp.
void emalog_sub_fma_f32(float *shadow, const float *theta, long count, float w);

/// The same with libm's fmaf.
void emalog_sub_fma_f32_portable(float *shadow, const float *theta, long count, float w);

/// 1 when the vectorised FMA path is in use.
int emalog_lerp_uses_fma(void);

#endif
