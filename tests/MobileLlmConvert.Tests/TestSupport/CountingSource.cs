using MobileLlmConvert.Core.Ir;

namespace MobileLlmConvert.Tests.TestSupport;

/// <summary>A source that counts how often its bytes are read (a span handed out, or a copy).</summary>
public sealed class CountingSource(TensorSource inner, bool spannable) : TensorSource
{
    public int Reads { get; private set; }
    public override long Length => inner.Length;

    public override void CopyTo(Span<byte> destination)
    {
        Reads++;
        inner.CopyTo(destination);
    }

    public override bool TryGetSpan(out ReadOnlySpan<byte> span)
    {
        if (!spannable || !inner.TryGetSpan(out span))
        {
            span = default;
            return false;
        }
        Reads++;
        return true;
    }
}
