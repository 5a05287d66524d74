// llama.cpp's tokenization of texts with a GGUF's vocabulary, one JSON object per text and line:
//   node llama-tokenize.mjs MODEL.gguf --text "hello world"
//   node llama-tokenize.mjs MODEL.gguf --texts-json '["hello", "world"]'   (one model load for many texts)
//   {"text":"hello world","tokens":[...]}
// No BOS is added; special-token text is treated as plain text.
import { getLlama, LlamaLogLevel } from "node-llama-cpp";
import { parseArgs, quietLogger, failCleanly } from "./common.mjs";

failCleanly();
const args = parseArgs(process.argv.slice(2), { text: true, "texts-json": true });
let texts;
if (args.text !== undefined) texts = [args.text];
else if (args["texts-json"] !== undefined) texts = JSON.parse(args["texts-json"]);
else throw new Error("--text or --texts-json is required");
if (!Array.isArray(texts) || !texts.every(t => typeof t === "string")) throw new Error("--texts-json must be a JSON array of strings");
const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error, logger: quietLogger });
const model = await llama.loadModel({ modelPath: args.model, gpuLayers: 0, vocabOnly: true });
for (const text of texts) {
    const tokens = Array.from(model.tokenize(text, false));
    process.stdout.write(JSON.stringify({ text, tokens }) + "\n");
}
await model.dispose();
await llama.dispose();
