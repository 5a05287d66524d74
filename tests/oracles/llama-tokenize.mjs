// llama.cpp's tokenization of a text with a GGUF's vocabulary, as one JSON object:
//   node llama-tokenize.mjs MODEL.gguf --text "hello world"
//   {"text":"hello world","tokens":[...]}
// No BOS is added; special-token text is treated as plain text.
import { getLlama, LlamaLogLevel } from "node-llama-cpp";
import { parseArgs, quietLogger, failCleanly } from "./common.mjs";

failCleanly();
const args = parseArgs(process.argv.slice(2), { text: true });
if (args.text === undefined) throw new Error("--text is required");
const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error, logger: quietLogger });
const model = await llama.loadModel({ modelPath: args.model, gpuLayers: 0, vocabOnly: true });
const tokens = Array.from(model.tokenize(args.text, false));
process.stdout.write(JSON.stringify({ text: args.text, tokens }) + "\n");
await model.dispose();
await llama.dispose();
