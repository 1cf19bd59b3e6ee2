using LlavaModal.Decoder.Generation;
using LlavaModal.Multimodal;
using LlavaModal.Tests.Support;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace LlavaModal.Tests.Core;

/// <summary>
/// TorchSharp frees a number's native scalar in a finalizer and keeps no reference to a temporary one while the native
/// call reads it, so a collection on another thread can free it mid-call (see <c>Abstractions/Tensors/Scalars.cs</c>).
/// The library passes numbers through <c>Scalars</c> helpers that keep them alive; these tests keep it so.
/// </summary>
public class ScalarLifetimeTests
{
    static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "LlavaModal.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("repository root not found above " + AppContext.BaseDirectory);
    }

    /// <summary>Every place in <c>src</c> that hands TorchSharp a number it turns into a temporary scalar, or adds tensors through the hidden-scalar overloads.</summary>
    static List<string> TemporaryScalars()
    {
        var root = Path.Combine(RepositoryRoot(), "src");
        var files = Directory.EnumerateFiles(root, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                     && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal));
        var options = new CSharpParseOptions(LanguageVersion.Preview);
        var trees = files.Select(f => CSharpSyntaxTree.ParseText(File.ReadAllText(f), options, f)).ToList();
        trees.Add(CSharpSyntaxTree.ParseText("global using System; global using System.Collections.Generic; global using System.IO; global using System.Linq; global using System.Threading; global using System.Threading.Tasks;", options));
        var references = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Concat(Directory.EnumerateFiles(AppContext.BaseDirectory, "*.dll").Where(f => !Path.GetFileName(f).StartsWith("LlavaModal", StringComparison.Ordinal) && Path.GetFileName(f) != "llava-modal.dll"))
            .Distinct().Select(p => { try { return MetadataReference.CreateFromFile(p); } catch (BadImageFormatException) { return null; } })
            .OfType<MetadataReference>();
        var compilation = CSharpCompilation.Create("scan", trees, references, new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, allowUnsafe: true));
        var found = new List<string>();
        foreach (var tree in trees)
        {
            var model = compilation.GetSemanticModel(tree);
            foreach (var node in tree.GetRoot().DescendantNodes().OfType<ExpressionSyntax>())
            {
                var type = model.GetTypeInfo(node);
                bool converted = model.GetConversion(node).IsUserDefined && type.ConvertedType?.ToDisplayString() == "TorchSharp.Scalar" && type.Type?.ToDisplayString() != "TorchSharp.Scalar";
                bool hidden = node is BinaryExpressionSyntax or InvocationExpressionSyntax or PrefixUnaryExpressionSyntax
                    && model.GetSymbolInfo(node).Symbol is IMethodSymbol m && m.ContainingAssembly?.Name == "TorchSharp"
                    && (m.MethodKind == MethodKind.UserDefinedOperator && (m.Name == "op_Addition" || m.Parameters.Any(p => p.Type.IsValueType && p.Type.SpecialType != SpecialType.None))
                        || m.Name is "add" or "add_" or "addcdiv" or "addcdiv_" && !m.Parameters.Any(p => p.Name is "alpha" or "value"));
                if (converted || hidden)
                    found.Add($"{Path.GetRelativePath(root, tree.FilePath)}:{tree.GetLineSpan(node.Span).StartLinePosition.Line + 1}: {node}");
            }
        }
        return found;
    }

    [Fact]
    public void The_library_never_hands_TorchSharp_a_temporary_scalar()
    {
        var found = TemporaryScalars();
        Assert.True(found.Count == 0, "Use the Scalars helpers (MulScalar, Plus, Scalars.With, ...) instead of:\n" + string.Join("\n", found));
    }

    [Fact]
    public async Task Generation_is_unaffected_by_collections_on_another_thread()
    {
        using var lm = LanguageModel.Load(Fixtures.LlamaTiny);
        var expected = lm.Generate("The quick brown fox", new GenerationOptions { MaxNewTokens = 8 });
        using var stop = new CancellationTokenSource();
        var storm = Task.Run(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
            }
        });
        try
        {
            // Before the Scalars helpers about 1 in 20 generations failed ("toFloat") under such a storm.
            for (int i = 0; i < 60; i++)
                Assert.Equal(expected.GeneratedIds, lm.Generate("The quick brown fox", new GenerationOptions { MaxNewTokens = 8 }).GeneratedIds);
        }
        finally
        {
            await stop.CancelAsync();
            await storm;
        }
    }
}
