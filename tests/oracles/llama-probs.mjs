// llama.cpp's next-token distribution after each prefix of a token list, as one JSON object:
//   node llama-probs.mjs MODEL.gguf --tokens 1,17,40 [--threads N] [--kv-cache f32|f16]
//   {"tokens":[1,17,40],"probabilities":[[p_0, ..., p_{V-1}], ...]}  (row i: after tokens[0..i])
// No BOS is added: the ids are evaluated exactly as given. CPU only, prebuilt binaries only.
// This is a verification oracle, so llama.cpp's two lossy defaults are switched off: the KV cache is
// f32 (--kv-cache f16 restores llama.cpp's default) and flash attention is off (its CPU kernel rounds
// Q to f16). With both defaults on, small random models with large weights move by up to ~3e-3; with
// them off llama.cpp agrees with a double-precision reference to ~2e-6.
import { getLlama, LlamaLogLevel } from "node-llama-cpp";
import { parseArgs, vocabularySize, quietLogger, failCleanly } from "./common.mjs";

failCleanly();
const args = parseArgs(process.argv.slice(2), { tokens: true, threads: true, "kv-cache": true });
const tokens = (args.tokens ?? "").split(",").filter(s => s.length > 0).map(s => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 0) throw new Error(`--tokens: "${s}" is not a token id`);
    return n;
});
if (tokens.length === 0) throw new Error("--tokens needs at least one id");
const threads = args.threads === undefined ? 1 : Number(args.threads);
if (!Number.isInteger(threads) || threads < 1) throw new Error(`--threads: "${args.threads}" is not a positive integer`);
const kvCache = (args["kv-cache"] ?? "f32").toUpperCase();
if (kvCache !== "F16" && kvCache !== "F32") throw new Error(`--kv-cache: "${args["kv-cache"]}" is not f16 or f32`);

const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error, logger: quietLogger });
const model = await llama.loadModel({ modelPath: args.model, gpuLayers: 0 });
const vocab = vocabularySize(model);
for (const t of tokens) {
    if (t >= vocab) throw new Error(`--tokens: ${t} is outside the vocabulary of ${vocab}`);
}
const context = await model.createContext({ contextSize: Math.max(tokens.length, 8), batchSize: tokens.length, threads, sequences: 1,
    experimentalKvCacheKeyType: kvCache, experimentalKvCacheValueType: kvCache, flashAttention: false });
const sequence = context.getSequence();
// Temperature 0 (the default) makes the sampler chain greedy-only, which keeps every candidate:
// the map then holds the softmax of all V logits. Missing entries would be tokens whose probability
// is exactly 0, so they are filled with 0.
const results = await sequence.controlledEvaluate(tokens.map(t => [t, { generateNext: { probabilities: true } }]));
const probabilities = results.map((r, i) => {
    const map = r?.next?.probabilities;
    if (map === undefined) throw new Error(`no probabilities returned for position ${i}`);
    const row = new Array(vocab).fill(0);
    for (const [token, p] of map) row[token] = p;
    return row;
});
process.stdout.write(JSON.stringify({ tokens, probabilities }) + "\n");
await context.dispose();
await model.dispose();
await llama.dispose();
