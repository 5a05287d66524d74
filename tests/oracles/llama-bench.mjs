// llama.cpp's prefill and decode speed on a GGUF, measured the way `mlconvert bench` measures ours:
//   node llama-bench.mjs MODEL.gguf [--threads N] [--prompt-tokens P] [--gen-tokens G]
//   {"threads":N,"prompt_tokens":P,"gen_tokens":G,"prefill_tokens_per_s":..,"decode_tokens_per_s":..}
// The prompt is P pseudo-random ids above the byte pieces (a fixed LCG, so every run sees the same
// ids); prefill is one batched evaluation, decode is G greedy steps of one token each. A short
// warm-up first, as our bench does, so one-time setup is not counted.
import { getLlama, LlamaLogLevel } from "node-llama-cpp";
import { parseArgs, vocabularySize, quietLogger } from "./common.mjs";

const args = parseArgs(process.argv.slice(2), { threads: true, "prompt-tokens": true, "gen-tokens": true });
const threads = Number(args.threads ?? 1);
const promptTokens = Number(args["prompt-tokens"] ?? 128);
const genTokens = Number(args["gen-tokens"] ?? 32);
for (const [name, v] of [["threads", threads], ["prompt-tokens", promptTokens], ["gen-tokens", genTokens]]) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`--${name}: ${v} must be a whole number >= 1`);
}

const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error, logger: quietLogger });
const model = await llama.loadModel({ modelPath: args.model, gpuLayers: 0 });
const vocab = vocabularySize(model);
let state = 12345;
const prompt = Array.from({ length: promptTokens }, () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return 259 + (state % Math.max(1, vocab - 259));
});
const context = await model.createContext({ contextSize: promptTokens + genTokens + 16, batchSize: promptTokens, threads, sequences: 1 });
const sequence = context.getSequence();

async function run(p, g) {
    await sequence.clearHistory();
    const t0 = performance.now();
    const first = await sequence.controlledEvaluate(p.map((t, i) => i === p.length - 1 ? [t, { generateNext: { token: true } }] : t));
    const t1 = performance.now();
    let last = first[p.length - 1]?.next?.token;
    if (last === undefined) throw new Error("no token generated after the prompt");
    for (let i = 0; i < g; i++) {
        const r = await sequence.controlledEvaluate([[last, { generateNext: { token: true } }]]);
        last = r[0]?.next?.token;
        if (last === undefined) throw new Error("no token generated while decoding");
    }
    const t2 = performance.now();
    return { prefillMs: t1 - t0, decodeMs: t2 - t1 };
}

await run(prompt.slice(0, Math.min(8, promptTokens)), 2);
const { prefillMs, decodeMs } = await run(prompt, genTokens);
process.stdout.write(JSON.stringify({
    threads, prompt_tokens: promptTokens, gen_tokens: genTokens,
    prefill_tokens_per_s: promptTokens / (prefillMs / 1000),
    decode_tokens_per_s: genTokens / (decodeMs / 1000),
}) + "\n");
await context.dispose();
await model.dispose();
await llama.dispose();
