namespace MobileLlmConvert.Fuzz;

/// <summary>
/// One seed input. Mutations land in [<see cref="HotStart"/>, HotStart + <see cref="HotLength"/>)
/// three times in four: the part a parser reads (a safetensors or GGUF header, a mobile file's
/// protobuf header) rather than tensor bytes no reader interprets.
/// </summary>
public sealed record FuzzSeed(string Name, byte[] Bytes, int HotStart, int HotLength)
{
    public static FuzzSeed Whole(string name, byte[] bytes) => new(name, bytes, 0, bytes.Length);
}
