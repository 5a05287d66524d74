// Prints ggml's reference quantization of a few fixed rows, for QuantGgmlVectorTests.
// Built against the ggml sources node-llama-cpp bundles (see make_ggml_vectors.sh); the bytes come from
// ggml's own quantize_row_*_ref (ggml/src/ggml-quants.c), not from our code.
// Output: one "x <row> <hex f32 little-endian>" line per input row, then one "<type> <row> <hex>" line
// per type and row. Importance-weighted quantization (what llama-quantize --imatrix calls): one
// "w <row> <hex f32>" line of quant weights per row, and "<type>_w <row> <hex>" lines from the public
// quantize_<type>(src, dst, 1, N, quant_weights) entry points, which run quantize_row_<type>_impl.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include "ggml-common.h"
#include "ggml-quants.h"

#define N 512
#define ROWS 4

// ggml_row_size lives in ggml.c (the whole library); the quantize_<type> entry points call it only to
// step rows, so this stand-in knows just the types printed here.
size_t ggml_row_size(enum ggml_type type, int64_t ne) {
    switch (type) {
    case GGML_TYPE_Q4_0: return ne / QK4_0 * sizeof(block_q4_0);
    case GGML_TYPE_Q4_1: return ne / QK4_1 * sizeof(block_q4_1);
    case GGML_TYPE_Q5_0: return ne / QK5_0 * sizeof(block_q5_0);
    case GGML_TYPE_Q5_1: return ne / QK5_1 * sizeof(block_q5_1);
    case GGML_TYPE_Q8_0: return ne / QK8_0 * sizeof(block_q8_0);
    case GGML_TYPE_Q4_K: return ne / QK_K * sizeof(block_q4_K);
    case GGML_TYPE_Q6_K: return ne / QK_K * sizeof(block_q6_K);
    default: abort();
    }
}

static uint32_t lcg = 12345u;
static int next(void) { lcg = lcg * 1664525u + 1013904223u; return (int)(lcg >> 8); }

static void hex(const void * p, size_t n) {
    const uint8_t * b = (const uint8_t *)p;
    for (size_t i = 0; i < n; i++) printf("%02x", b[i]);
    printf("\n");
}

int main(void) {
    static float x[ROWS][N];
    for (int i = 0; i < N; i++) {
        x[0][i] = (float)(i - N / 2) * 0.01f;                       // ramp
        x[1][i] = (float)(next() % 2001 - 1000) / 257.0f;           // uniform
        x[2][i] = (float)(next() % 2001 - 1000) / 25700.0f;         // small, with outliers below
        x[3][i] = i < 256 ? 0.0f : (float)(next() % 201 - 100) / 64.0f; // a zero super-block, then coarse
    }
    x[2][7] = 0.9f; x[2][300] = -1.3f; x[2][301] = 0.75f;
    static float w[ROWS][N];
    for (int r = 0; r < ROWS; r++) {
        for (int i = 0; i < N; i++) {
            // Positive weights spread over three decades, like an imatrix's mean squared activations,
            // with a few columns far heavier (outlier channels).
            w[r][i] = (float)(next() % 1000 + 1) / 1000.0f * ((next() % 3 == 0) ? 10.0f : 1.0f);
        }
        w[r][5] = 400.0f; w[r][40] = 250.0f;
    }
    for (int r = 0; r < ROWS; r++) { printf("x %d ", r); hex(x[r], sizeof x[r]); }
    for (int r = 0; r < ROWS; r++) { printf("w %d ", r); hex(w[r], sizeof w[r]); }
    for (int r = 0; r < ROWS; r++) {
        block_q5_0 q50[N / QK5_0]; quantize_row_q5_0_ref(x[r], q50, N); printf("q5_0 %d ", r); hex(q50, sizeof q50);
        block_q5_1 q51[N / QK5_1]; quantize_row_q5_1_ref(x[r], q51, N); printf("q5_1 %d ", r); hex(q51, sizeof q51);
        block_q4_K q4k[N / QK_K]; quantize_row_q4_K_ref(x[r], q4k, N); printf("q4_k %d ", r); hex(q4k, sizeof q4k);
        block_q6_K q6k[N / QK_K]; quantize_row_q6_K_ref(x[r], q6k, N); printf("q6_k %d ", r); hex(q6k, sizeof q6k);
    }
    for (int r = 0; r < ROWS; r++) {
        block_q4_0 q40[N / QK4_0]; quantize_q4_0(x[r], q40, 1, N, w[r]); printf("q4_0_w %d ", r); hex(q40, sizeof q40);
        block_q4_1 q41[N / QK4_1]; quantize_q4_1(x[r], q41, 1, N, w[r]); printf("q4_1_w %d ", r); hex(q41, sizeof q41);
        block_q5_0 q50[N / QK5_0]; quantize_q5_0(x[r], q50, 1, N, w[r]); printf("q5_0_w %d ", r); hex(q50, sizeof q50);
        block_q5_1 q51[N / QK5_1]; quantize_q5_1(x[r], q51, 1, N, w[r]); printf("q5_1_w %d ", r); hex(q51, sizeof q51);
        block_q4_K q4k[N / QK_K]; quantize_q4_K(x[r], q4k, 1, N, w[r]); printf("q4_k_w %d ", r); hex(q4k, sizeof q4k);
        block_q6_K q6k[N / QK_K]; quantize_q6_K(x[r], q6k, 1, N, w[r]); printf("q6_k_w %d ", r); hex(q6k, sizeof q6k);
        block_q8_0 q80[N / QK8_0]; quantize_q8_0(x[r], q80, 1, N, w[r]); printf("q8_0_w %d ", r); hex(q80, sizeof q80);
    }
    return 0;
}
