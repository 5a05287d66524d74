namespace MobileLlmConvert.Tests.TestSupport;

/// <summary>A temporary directory deleted when the test ends.</summary>
public sealed class TempDir : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("mlc-test-").FullName;

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public string this[string name] => File(name);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
