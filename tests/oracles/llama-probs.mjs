// llama.cpp's next-token distribution after each prefix of a token list, as one JSON object:
//   node llama-probs.mjs MODEL.gguf --tokens 1,17,40 [--threads N]
//   {"tokens":[1,17,40],"probabilities":[[p_0, ..., p_{V-1}], ...]}  (row i: after tokens[0..i])
// No BOS is added: the ids are evaluated exactly as given. CPU only, prebuilt binaries only.
import { getLlama, LlamaLogLevel } from "node-llama-cpp";
import { parseArgs, vocabularySize, quietLogger } from "./common.mjs";

const args = parseArgs(process.argv.slice(2), { tokens: true, threads: true });
const tokens = (args.tokens ?? "").split(",").filter(s => s.length > 0).map(s => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 0) throw new Error(`--tokens: "${s}" is not a token id`);
    return n;
});
if (tokens.length === 0) throw new Error("--tokens needs at least one id");
const threads = args.threads === undefined ? 1 : Number(args.threads);

const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error, logger: quietLogger });
const model = await llama.loadModel({ modelPath: args.model, gpuLayers: 0 });
const vocab = vocabularySize(model);
for (const t of tokens) {
    if (t >= vocab) throw new Error(`--tokens: ${t} is outside the vocabulary of ${vocab}`);
}
const context = await model.createContext({ contextSize: Math.max(tokens.length, 8), batchSize: tokens.length, threads, sequences: 1 });
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
