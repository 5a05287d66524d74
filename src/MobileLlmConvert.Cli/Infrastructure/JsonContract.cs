using System.Text.Json;

namespace MobileLlmConvert.Cli.Infrastructure;

/// <summary>
/// The `--json` contract every verb follows (docs/json.md, docs/json.schema.json): exactly one JSON
/// object on stdout, starting with <c>"schema": "mlconvert/1"</c> and <c>"verb"</c>, snake_case keys,
/// and the same name for the same thing in every verb (<c>input</c>, <c>output</c>,
/// <c>format.input/output</c>, <c>bytes.stored/written</c>, <c>parameters.stored/executed</c>,
/// <c>seconds</c>, <c>notes</c>, <c>warnings</c>). A failure is a document too (<see cref="WriteError"/>).
/// </summary>
internal static class JsonContract
{
    /// <summary>Bumped only when a key is renamed or removed or its meaning changes; new keys keep it.</summary>
    public const string Schema = "mlconvert/1";

    /// <summary>Writes one document: the two contract properties, then what <paramref name="body"/> adds.</summary>
    public static void Write(TextWriter stdout, string verb, Action<Utf8JsonWriter> body, bool indented = true) =>
        JsonOut.Write(stdout, w =>
        {
            w.WriteStartObject();
            w.WriteString("schema", Schema);
            w.WriteString("verb", verb);
            body(w);
            w.WriteEndObject();
        }, indented);

    /// <summary>
    /// The failure document: <c>error.file/field/value</c> as the exception names them (null for usage
    /// errors), <c>error.message</c> the reason, and the process exit code. <paramref name="verb"/> is
    /// null when no verb was recognised.
    /// </summary>
    public static void WriteError(TextWriter stdout, string? verb, CliError error) =>
        JsonOut.Write(stdout, w =>
        {
            w.WriteStartObject();
            w.WriteString("schema", Schema);
            if (verb is null) w.WriteNull("verb");
            else w.WriteString("verb", verb);
            w.WriteStartObject("error");
            WriteNullable(w, "file", error.File);
            WriteNullable(w, "field", error.Field);
            WriteNullable(w, "value", error.Value);
            w.WriteString("message", error.Message);
            w.WriteEndObject();
            w.WriteNumber("exit", error.Exit);
            w.WriteEndObject();
        });

    /// <summary><c>"format": {"input": .., "output": ..}</c>; a side the verb does not have is left out.</summary>
    public static void WriteFormat(this Utf8JsonWriter w, string? input, string? output)
    {
        w.WriteStartObject("format");
        if (input is not null) w.WriteString("input", input);
        if (output is not null) w.WriteString("output", output);
        w.WriteEndObject();
    }

    /// <summary><c>"bytes": {"stored": N, "written": N}</c>: tensor bytes of the model read, file bytes written.</summary>
    public static void WriteBytes(this Utf8JsonWriter w, long? stored, long? written)
    {
        w.WriteStartObject("bytes");
        if (stored is { } s) w.WriteNumber("stored", s);
        if (written is { } n) w.WriteNumber("written", n);
        w.WriteEndObject();
    }

    /// <summary><c>"parameters": {"stored": N, "executed": N}</c>: each stored element once; each use of one.</summary>
    public static void WriteParameters(this Utf8JsonWriter w, long stored, long executed)
    {
        w.WriteStartObject("parameters");
        w.WriteNumber("stored", stored);
        w.WriteNumber("executed", executed);
        w.WriteEndObject();
    }

    public static void WriteSeconds(this Utf8JsonWriter w, TimeSpan elapsed) =>
        w.WriteNumber("seconds", Math.Round(elapsed.TotalSeconds, 3));

    public static void WriteNotes(this Utf8JsonWriter w, IEnumerable<string> notes) => w.WriteStrings("notes", notes);

    public static void WriteWarnings(this Utf8JsonWriter w, IEnumerable<string> warnings) => w.WriteStrings("warnings", warnings);

    private static void WriteNullable(Utf8JsonWriter w, string name, string? value)
    {
        if (value is null) w.WriteNull(name);
        else w.WriteString(name, value);
    }
}
