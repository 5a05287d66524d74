namespace MobileLlmConvert.Core.Errors;

/// <summary>
/// The caller asked for something that cannot be done with these inputs (a path that is no model,
/// a format name nobody registered, a Hugging Face option on a GGUF file): not a malformed file
/// (<see cref="ModelFormatException"/>) and not a bug. The CLI prints it as a usage line and exits 2.
/// </summary>
public sealed class ModelUsageException(string message) : ArgumentException(message);
