// Shared by the oracle scripts: argument parsing, vocabulary size, logging kept off stdout.

/** MODEL.gguf followed by --name value pairs from `allowed`. */
export function parseArgs(argv, allowed) {
    const out = {};
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        if (a.startsWith("--")) {
            const name = a.slice(2);
            if (!(name in allowed)) throw new Error(`unknown option ${a}`);
            if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
            out[name] = argv[++i];
        } else if (out.model === undefined) {
            out.model = a;
        } else {
            throw new Error(`unexpected argument ${a}`);
        }
    }
    if (out.model === undefined) throw new Error("usage: MODEL.gguf [options]");
    return out;
}

/** Tokens in the model's vocabulary (from the GGUF metadata node-llama-cpp parsed). */
export function vocabularySize(model) {
    const md = model.fileInfo?.metadata;
    const fromKey = md?.llama?.vocab_size;
    if (Number.isInteger(fromKey) && fromKey > 0) return fromKey;
    const tokens = md?.tokenizer?.ggml?.tokens;
    if (Array.isArray(tokens) && tokens.length > 0) return tokens.length;
    throw new Error("cannot tell the vocabulary size from the GGUF metadata");
}

/** llama.cpp's log lines go to stderr so stdout carries only the JSON result. */
export function quietLogger(level, message) {
    process.stderr.write(message.endsWith("\n") ? message : message + "\n");
}

/** One line on stderr and exit code 2 for bad arguments or a model llama.cpp refuses; no stack trace. */
export function failCleanly() {
    const fail = error => {
        process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
        process.exit(2);
    };
    process.on("uncaughtException", fail);
    process.on("unhandledRejection", fail);
}
