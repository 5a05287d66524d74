// Prints ggml's reference quantization of a few fixed rows, for QuantGgmlVectorTests.
// Built against the ggml sources node-llama-cpp bundles (see make_ggml_vectors.sh); the bytes come from
// ggml's own quantize_row_*_ref (ggml/src/ggml-quants.c), not from our code.
// Output: one "x <row> <hex f32 little-endian>" line per input row, then one "<type> <row> <hex>" line
// per type and row.
#include <stdint.h>
#include <stdio.h>
#include "ggml-common.h"
#include "ggml-quants.h"

#define N 512
#define ROWS 4

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
    for (int r = 0; r < ROWS; r++) { printf("x %d ", r); hex(x[r], sizeof x[r]); }
    for (int r = 0; r < ROWS; r++) {
        block_q5_0 q50[N / QK5_0]; quantize_row_q5_0_ref(x[r], q50, N); printf("q5_0 %d ", r); hex(q50, sizeof q50);
        block_q5_1 q51[N / QK5_1]; quantize_row_q5_1_ref(x[r], q51, N); printf("q5_1 %d ", r); hex(q51, sizeof q51);
        block_q4_K q4k[N / QK_K]; quantize_row_q4_K_ref(x[r], q4k, N); printf("q4_k %d ", r); hex(q4k, sizeof q4k);
        block_q6_K q6k[N / QK_K]; quantize_row_q6_K_ref(x[r], q6k, N); printf("q6_k %d ", r); hex(q6k, sizeof q6k);
    }
    return 0;
}
