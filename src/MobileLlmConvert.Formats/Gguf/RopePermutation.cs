namespace MobileLlmConvert.Formats.Gguf;

/// <summary>
/// Hugging Face's Llama rotates the two halves of each head (rotate_half); llama.cpp's llama
/// architecture rotates adjacent pairs. Permuting the rows of q_proj (per query head) and k_proj
/// (per KV head) makes the two agree (llama.cpp convert_hf_to_gguf.py, LlamaModel.permute): within a head of size hd, GGUF row
/// 2b + a holds HF row a·hd/2 + b (a in {0, 1}, b &lt; hd/2). Whole rows move, so the same code serves
/// float and block-quantized rows (a row is whole blocks).
/// </summary>
internal static class RopePermutation
{
    /// <summary>The HF row that GGUF row <paramref name="ggufRow"/> holds.</summary>
    public static int HfRowOf(int ggufRow, int headDim)
    {
        int head = ggufRow / headDim;
        int r = ggufRow % headDim;
        int a = r & 1;
        int b = r >> 1;
        return head * headDim + a * (headDim / 2) + b;
    }

    /// <summary>HF row order to GGUF row order.</summary>
    public static void Permute(ReadOnlySpan<byte> hf, Span<byte> gguf, int rows, int heads)
    {
        int rowBytes = Check(hf.Length, gguf.Length, rows, heads, out int hd);
        for (int r = 0; r < rows; r++)
        {
            hf.Slice(HfRowOf(r, hd) * rowBytes, rowBytes).CopyTo(gguf.Slice(r * rowBytes, rowBytes));
        }
    }

    /// <summary>GGUF row order back to HF row order (the reader's undo).</summary>
    public static void Unpermute(ReadOnlySpan<byte> gguf, Span<byte> hf, int rows, int heads)
    {
        int rowBytes = Check(gguf.Length, hf.Length, rows, heads, out int hd);
        for (int r = 0; r < rows; r++)
        {
            gguf.Slice(r * rowBytes, rowBytes).CopyTo(hf.Slice(HfRowOf(r, hd) * rowBytes, rowBytes));
        }
    }

    private static int Check(int srcLength, int dstLength, int rows, int heads, out int headDim)
    {
        if (heads <= 0 || rows % heads != 0) throw new ArgumentException($"{rows} rows are not whole heads of {heads}");
        headDim = rows / heads;
        if (headDim % 2 != 0) throw new ArgumentException($"head dimension {headDim} is odd; RoPE pairs need an even one");
        if (srcLength != dstLength || srcLength % rows != 0) throw new ArgumentException($"{srcLength} bytes are not {rows} equal rows");
        return srcLength / rows;
    }
}
