/* semsearch's bfloat16 CPU kernels, built and loaded by embed/ckernels.py (ctypes); each function works on
   the calling thread only and returns 0, or a negative code for input it does not take.

   semsearch_attend: self-attention of one batch on Intel AMX (embed/attention.py).
   softmax(Q K^T * scale + mask) V for every (batch, head), one head at a time: Q K^T and P V are AMX tile
   products (bf16 in, fp32 out), the softmax runs in fp32 on AVX-512 and its probabilities are rounded to
   bf16 for P V, as torch's CPU flash attention does. Q, K and V are read in place from the strided
   [B, H, T, D] views a BERT layer hands to its attention; the output is written as [B, T, H, D], the layout
   the layer reshapes it to. The thread's AMX tile configuration is saved on entry and put back on exit, so
   code that set one before (oneDNN's kernels) finds it as it left it.

   semsearch_add_layer_norm: LayerNorm(x + residual) of bf16 rows in one pass, in fp32 (embed/addnorm.py).
*/
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define ARCH_GET_XCOMP_PERM 0x1022
#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

typedef struct {
    uint8_t palette_id, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tile_config;

typedef struct {    /* scratch for one head; keys padded to tk (a multiple of 32) */
    uint16_t *q;    /* [16][D]: the last, partial block of query rows, zero-padded */
    uint32_t *kp;   /* [tk/16][D/2][16]: K^T as VNNI pairs, one 16-key block per B tile */
    uint32_t *vp;   /* [tk/2][D]: V as VNNI pairs */
    float *s;       /* [16][tk]: scores of a block of 16 query rows */
    uint16_t *p;    /* [16][tk]: their probabilities, bf16 */
    float *o;       /* [16][D]: their outputs before normalisation */
} scratch;

/* 1 when this process may use AMX tiles (Linux asks each process to request them once). */
int semsearch_amx_ready(void) {
    unsigned long bitmask = 0;
    if (syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)) return 0;
    if (syscall(SYS_arch_prctl, ARCH_GET_XCOMP_PERM, &bitmask)) return 0;
    return (bitmask & (1ul << XFEATURE_XTILEDATA)) != 0;
}

/* 2^t for t <= 0: 2^n * 2^f with n = round(t), |f| <= 1/2, 2^f by a degree-5 Taylor polynomial
   (relative error < 2e-6, far below the bf16 rounding the probabilities get). Below 2^-125 (masked and
   padding keys: t = -inf) the result is exactly 0, never a denormal: arithmetic on denormals takes a slow
   microcode path on these CPUs, which made masked batches ~2x slower. */
static inline __m512 exp2_nonpositive(__m512 t) {
    const __mmask16 tiny = _mm512_cmp_ps_mask(t, _mm512_set1_ps(-125.0f), _CMP_LT_OQ);
    t = _mm512_max_ps(t, _mm512_set1_ps(-125.0f));
    const __m512 n = _mm512_roundscale_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m512 f = _mm512_sub_ps(t, n);
    __m512 p = _mm512_set1_ps(1.3333558e-3f);                   /* ln2^5 / 120 */
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(9.6181291e-3f));  /* ln2^4 / 24 */
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.5504109e-2f));  /* ln2^3 / 6 */
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.4022651e-1f));  /* ln2^2 / 2 */
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.9314718e-1f));  /* ln2 */
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
    return _mm512_maskz_scalef_ps((__mmask16)~tiny, p, n);
}

static inline __mmask16 live_keys(int64_t j0, int64_t T) {
    if (j0 + 16 <= T) return (__mmask16)0xFFFF;
    return j0 >= T ? (__mmask16)0 : (__mmask16)((1u << (T - j0)) - 1);
}

/* K^T and V in the VNNI pair layout AMX B tiles read; keys past T are zeros. K rows are gathered. */
static inline __attribute__((always_inline)) void pack_kv(const uint16_t *k, int64_t sk, const uint16_t *v,
        int64_t sv, int64_t T, const int64_t D, int64_t tk, const scratch *w) {
    const int64_t pairs = D / 2;
    const __m512i rows = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                            _mm512_set1_epi32((int)(sk / 2)));
    for (int64_t j0 = 0; j0 < tk; j0 += 16) {
        const __mmask16 live = live_keys(j0, T);
        const int *base = (const int *)(k + j0 * sk);
        for (int64_t d = 0; d < pairs; d++) {
            const __m512i x = live ? _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), live, rows, base + d, 4)
                                   : _mm512_setzero_si512();
            _mm512_storeu_si512(w->kp + (j0 / 16 * pairs + d) * 16, x);
        }
    }
    const __m512i lo = _mm512_set_epi16(47, 15, 46, 14, 45, 13, 44, 12, 43, 11, 42, 10, 41, 9, 40, 8,
                                        39, 7, 38, 6, 37, 5, 36, 4, 35, 3, 34, 2, 33, 1, 32, 0);
    const __m512i hi = _mm512_add_epi16(lo, _mm512_set1_epi16(16));
    for (int64_t j = 0; j < tk; j += 2)
        for (int64_t d = 0; d < D; d += 32) {
            const __m512i a = j < T ? _mm512_loadu_si512(v + j * sv + d) : _mm512_setzero_si512();
            const __m512i b = j + 1 < T ? _mm512_loadu_si512(v + (j + 1) * sv + d) : _mm512_setzero_si512();
            _mm512_storeu_si512(w->vp + j / 2 * D + d, _mm512_permutex2var_epi16(a, lo, b));
            _mm512_storeu_si512(w->vp + j / 2 * D + d + 16, _mm512_permutex2var_epi16(a, hi, b));
        }
}

/* S[16][tk] = Q[16 rows] K^T: Q in tiles 2-5 (depth 32 each), accumulators in 0-1, K^T blocks in 6-7. */
#define SCORE_BLOCK(C, B, jb)                                                                            \
    _tile_zero(C);                                                                                       \
    _tile_loadd(B, w->kp + (jb) * pairs * 16, 64);                                                        \
    _tile_dpbf16ps(C, 2, B);                                                                             \
    if (D >= 64) { _tile_loadd(B, w->kp + ((jb) * pairs + 16) * 16, 64); _tile_dpbf16ps(C, 3, B); }      \
    if (D >= 96) { _tile_loadd(B, w->kp + ((jb) * pairs + 32) * 16, 64); _tile_dpbf16ps(C, 4, B); }      \
    if (D >= 128) { _tile_loadd(B, w->kp + ((jb) * pairs + 48) * 16, 64); _tile_dpbf16ps(C, 5, B); }     \
    _tile_stored(C, w->s + (jb) * 16, tk * 4);

static inline __attribute__((always_inline)) void score_rows(const uint16_t *qa, int64_t qstride, const int64_t D,
        int64_t tk, const scratch *w) {
    const int64_t pairs = D / 2;
    _tile_loadd(2, qa, qstride);
    if (D >= 64) _tile_loadd(3, qa + 32, qstride);
    if (D >= 96) _tile_loadd(4, qa + 64, qstride);
    if (D >= 128) _tile_loadd(5, qa + 96, qstride);
    for (int64_t jb = 0; jb < tk / 16; jb += 2) {  /* tk / 16 is even */
        SCORE_BLOCK(0, 6, jb)
        SCORE_BLOCK(1, 7, jb + 1)
    }
}

/* Row r of S becomes bf16 e^(s - max) in P (0 for keys past T); returns 1 / the row's sum. The row is
   first taken to base 2 (times log2 e), so the exponential is a plain 2^t. */
static inline float softmax_row(int r, int64_t T, int64_t tk, const float *mask, float scale, const scratch *w) {
    float *srow = w->s + r * tk;
    const float log2e = 1.44269504088896341f;
    const __m512 vscale = _mm512_set1_ps(scale * log2e), vlog2e = _mm512_set1_ps(log2e);
    __m512 vmax = _mm512_set1_ps(-INFINITY);
    for (int64_t j0 = 0; j0 < tk; j0 += 16) {
        const __mmask16 live = live_keys(j0, T);
        __m512 x = _mm512_mul_ps(_mm512_loadu_ps(srow + j0), vscale);
        if (mask) x = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(live, mask + j0), vlog2e, x);
        x = _mm512_mask_blend_ps(live, _mm512_set1_ps(-INFINITY), x);
        _mm512_storeu_ps(srow + j0, x);
        vmax = _mm512_max_ps(vmax, x);
    }
    const float m = _mm512_reduce_max_ps(vmax);
    const __m512 vm = _mm512_set1_ps(m == -INFINITY ? 0.0f : m);
    __m512 vsum = _mm512_setzero_ps();
    for (int64_t j0 = 0; j0 < tk; j0 += 32) {
        const __m512 e0 = exp2_nonpositive(_mm512_sub_ps(_mm512_loadu_ps(srow + j0), vm));
        const __m512 e1 = exp2_nonpositive(_mm512_sub_ps(_mm512_loadu_ps(srow + j0 + 16), vm));
        vsum = _mm512_add_ps(vsum, _mm512_add_ps(e0, e1));
        _mm512_storeu_si512(w->p + r * tk + j0, (__m512i)_mm512_cvtne2ps_pbh(e1, e0));
    }
    const float total = _mm512_reduce_add_ps(vsum);
    return total > 0.0f ? 1.0f / total : 0.0f;
}

/* O[16][D] = P V: accumulators in tiles 0-1, P in 6, V in 7. */
static inline __attribute__((always_inline)) void weigh_values(const int64_t D, int64_t tk, const scratch *w) {
    for (int64_t dc = 0; dc < D / 16; dc += 2) {
        _tile_zero(0);
        _tile_zero(1);
        for (int64_t ks = 0; ks < tk / 32; ks++) {
            _tile_loadd(6, w->p + ks * 32, tk * 2);
            _tile_loadd(7, w->vp + ks * 16 * D + dc * 16, D * 4);
            _tile_dpbf16ps(0, 6, 7);
            _tile_loadd(7, w->vp + ks * 16 * D + dc * 16 + 16, D * 4);
            _tile_dpbf16ps(1, 6, 7);
        }
        _tile_stored(0, w->o + dc * 16, D * 4);
        _tile_stored(1, w->o + dc * 16 + 16, D * 4);
    }
}

static inline __attribute__((always_inline)) void attend_head(const uint16_t *q, int64_t sq, const uint16_t *k,
        int64_t sk, const uint16_t *v, int64_t sv, int64_t T, const int64_t D, const float *mask, float scale,
        uint16_t *out, int64_t so, const scratch *w, const uint16_t *const next[3]) {
    const int64_t tk = (T + 31) / 32 * 32, full = T / 16 * 16;
    pack_kv(k, sk, v, sv, T, D, tk, w);
    for (int64_t i = full; i < full + 16; i++)  /* a tile load past the last row could leave the tensor */
        for (int64_t d = 0; d < D; d += 32)
            _mm512_storeu_si512(w->q + (i - full) * D + d,
                                i < T ? _mm512_loadu_si512(q + i * sq + d) : _mm512_setzero_si512());
    for (int64_t i0 = 0; i0 < T; i0 += 16) {
        /* the next head's rows (a cache line each, far apart) are asked for a block at a time */
        for (int64_t t = i0; t < i0 + 16 && t < T; t++)
            for (int64_t d = 0; d < D; d += 32) {
                _mm_prefetch((const char *)(next[0] + t * sq + d), _MM_HINT_T1);
                _mm_prefetch((const char *)(next[1] + t * sk + d), _MM_HINT_T1);
                _mm_prefetch((const char *)(next[2] + t * sv + d), _MM_HINT_T1);
            }
        if (i0 < full) score_rows(q + i0 * sq, sq * 2, D, tk, w);
        else score_rows(w->q, D * 2, D, tk, w);
        float inv[16];
        for (int r = 0; r < 16; r++) inv[r] = softmax_row(r, T, tk, mask, scale, w);
        weigh_values(D, tk, w);
        const int64_t rows = T - i0 < 16 ? T - i0 : 16;
        for (int64_t r = 0; r < rows; r++)
            for (int64_t dc = 0; dc < D; dc += 16) {
                const __m512 x = _mm512_mul_ps(_mm512_loadu_ps(w->o + r * D + dc), _mm512_set1_ps(inv[r]));
                _mm256_storeu_si256((__m256i *)(out + (i0 + r) * so + dc), (__m256i)_mm512_cvtneps_pbh(x));
            }
    }
}

#define EACH_HEAD(DD)                                                                                     \
    for (int64_t n = 0; n < B * H; n++) {                                                                 \
        const int64_t b = n / H, h = n % H, m = n + 1 < B * H ? n + 1 : n;                                \
        const uint16_t *next[3] = {q + m / H * sqb + m % H * sqh, k + m / H * skb + m % H * skh,             \
                                   v + m / H * svb + m % H * svh};                                        \
        attend_head(q + b * sqb + h * sqh, sqt, k + b * skb + h * skh, skt, v + b * svb + h * svh, svt, T,   \
                    DD, mask ? mask + b * T : NULL, scale, out + (b * T * H + h) * DD, H * DD, &w, next);  \
    }

/* q, k, v: bf16 [B, H, T, D] with element strides s?b, s?h, s?t and unit stride along D; skt even.
   mask: NULL or float32 [B, T], added to the scaled scores of each key (-inf: never attended).
   out: bf16 [B, T, H, D], contiguous. D is 32, 64, 96 or 128.
   Returns 0; -1 without scratch memory; -2 for a shape this kernel does not take. */
int semsearch_attend(const uint16_t *q, int64_t sqb, int64_t sqh, int64_t sqt,
                     const uint16_t *k, int64_t skb, int64_t skh, int64_t skt,
                     const uint16_t *v, int64_t svb, int64_t svh, int64_t svt,
                     int64_t B, int64_t H, int64_t T, int64_t D, const float *mask, float scale, uint16_t *out) {
    if (D % 32 || D < 32 || D > 128 || T < 1 || skt % 2) return -2;
    const int64_t tk = (T + 31) / 32 * 32;
    scratch w;
    w.q = aligned_alloc(64, (size_t)16 * D * 2);
    w.kp = aligned_alloc(64, (size_t)tk * D * 2);
    w.vp = aligned_alloc(64, (size_t)tk * D * 2);
    w.s = aligned_alloc(64, (size_t)16 * tk * 4);
    w.p = aligned_alloc(64, (size_t)16 * tk * 2);
    w.o = aligned_alloc(64, (size_t)16 * D * 4);
    int rc = -1;
    if (w.q && w.kp && w.vp && w.s && w.p && w.o) {
        tile_config saved, cfg;
        _tile_storeconfig(&saved);
        memset(&cfg, 0, sizeof cfg);
        cfg.palette_id = 1;
        for (int t = 0; t < 8; t++) {
            cfg.rows[t] = 16;
            cfg.colsb[t] = 64;
        }
        _tile_loadconfig(&cfg);
        switch (D) {
        case 32: EACH_HEAD(32) break;
        case 64: EACH_HEAD(64) break;
        case 96: EACH_HEAD(96) break;
        default: EACH_HEAD(128) break;
        }
        if (saved.palette_id) _tile_loadconfig(&saved);
        else _tile_release();
        rc = 0;
    }
    free(w.q);
    free(w.kp);
    free(w.vp);
    free(w.s);
    free(w.p);
    free(w.o);
    return rc;
}

static inline __m512 load_bf16(const uint16_t *p) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p)), 16));
}

/* out = (y - mean(y)) / sqrt(var(y) + eps) * gamma + beta with y = x + residual (residual may be NULL), per
   row of ``cols`` bf16 values (a multiple of 16, at most 8192); the sum is not rounded to bf16 first. */
int semsearch_add_layer_norm(const uint16_t *x, const uint16_t *residual, const uint16_t *gamma,
                             const uint16_t *beta, float eps, int64_t rows, int64_t cols, uint16_t *out) {
    if (cols % 16 || cols < 16 || cols > 8192) return -2;
    float y[8192] __attribute__((aligned(64)));
    const float inv_n = 1.0f / (float)cols;
    for (int64_t r = 0; r < rows; r++) {
        const uint16_t *xr = x + r * cols, *rr = residual ? residual + r * cols : NULL;
        __m512 sum = _mm512_setzero_ps();
        for (int64_t c = 0; c < cols; c += 16) {
            __m512 v = load_bf16(xr + c);
            if (rr) v = _mm512_add_ps(v, load_bf16(rr + c));
            _mm512_store_ps(y + c, v);
            sum = _mm512_add_ps(sum, v);
        }
        const __m512 mean = _mm512_set1_ps(_mm512_reduce_add_ps(sum) * inv_n);
        __m512 squares = _mm512_setzero_ps();
        for (int64_t c = 0; c < cols; c += 16) {
            const __m512 d = _mm512_sub_ps(_mm512_load_ps(y + c), mean);
            squares = _mm512_fmadd_ps(d, d, squares);
        }
        const __m512 rstd = _mm512_set1_ps(1.0f / sqrtf(_mm512_reduce_add_ps(squares) * inv_n + eps));
        uint16_t *orow = out + r * cols;
        for (int64_t c = 0; c < cols; c += 16) {
            const __m512 n = _mm512_mul_ps(_mm512_sub_ps(_mm512_load_ps(y + c), mean), rstd);
            const __m512 v = _mm512_fmadd_ps(n, load_bf16(gamma + c), load_bf16(beta + c));
            _mm256_storeu_si256((__m256i *)(orow + c), (__m256i)_mm512_cvtneps_pbh(v));
        }
    }
    return 0;
}
