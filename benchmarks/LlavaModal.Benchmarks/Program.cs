namespace LlavaModal.Benchmarks;

/// <summary>
/// <c>dotnet run --project benchmarks/LlavaModal.Benchmarks -c Release -- &lt;name&gt; [options]</c>.
/// A plain Stopwatch harness (warm-up, repetitions, median/min): the measured operations take tens of
/// milliseconds to seconds, so BenchmarkDotNet's pilot/overhead phases would add minutes on 2 cores and buy nothing.
/// </summary>
static class Program
{
    static int Main(string[] args)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help")
        {
            Console.Error.WriteLine(Usage);
            return args.Length == 0 ? 2 : 0;
        }
        // TorchSharp is touched directly (set_num_threads, tensors) before any LlavaModal type, so make libtorch loadable first.
        LlavaModal.Core.Native.TorchNativeRuntime.EnsureLoadable();
        try
        {
            var options = new BenchArgs(args[1..]);
            return args[0] switch
            {
                "decode" => DecodeBenchmark.Run(options),
                "kernels" => KernelBenchmark.Run(options),
                "gemm" => GemmBenchmark.Run(options),
                "prefill-attention" => PrefillAttentionBenchmark.Run(options),
                "attention" => AttentionBenchmark.Run(options),
                "load-rss" => LoadRssBenchmark.Run(options),
                "vision" => VisionBenchmark.Run(options),
                "soak" => SoakBenchmark.Run(options),
                "serve" => ServeBenchmark.Run(options).GetAwaiter().GetResult(),
                "jpeg" => JpegBenchmark.Run(options),
                "structured" => StructuredBenchmark.Run(options),
                "llamacpp" => LlamaCpp.LlamaCppBenchmark.Run(options),
                "llamacpp-image" => LlamaCpp.ImagePrefillBenchmark.Run(options),
                LlamaCpp.ImagePrefillBenchmark.ChildMode => LlamaCpp.ImagePrefillBenchmark.Child(options),
                LoadRssChild.Mode => LoadRssChild.Run(options),
                LlamaCpp.OursChild.Mode => LlamaCpp.OursChild.Run(options),
                LlamaCpp.GreedyIds.Mode => LlamaCpp.GreedyIds.Run(options),
                _ => throw new ArgumentException($"unknown benchmark '{args[0]}'.\n{Usage}"),
            };
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 2;
        }
        catch (LlamaCpp.ChildProcessException e)
        {
            // The child has said what was wrong (its stderr's tail is in the message); no stack trace of ours on top.
            Console.Error.WriteLine($"error: {e.Message}");
            return 1;
        }
    }

    const string Usage = """
        usage: LlavaModal.Benchmarks <benchmark> [options]
          decode    prefill ms, decode tokens/s (greedy), tensors per step and share of the bandwidth limit on llama-tiny and
                    generated checkpoints (70m: the 69.5M LLaVA's decoder, 100m, 1b: TinyLlama's shape)
                    [--models tiny,100m] [--weights torch,int8,...] [--prompt-lengths 128,512] [--new-tokens 64] [--warmup 1] [--reps 5]
                    [--kv-cache model,f16,bf16] [--decode-attention on,off (off: libtorch's sdpa, for A/B)]
                    [--decode-step on,off (off: packed layers run as modules, for A/B)] [--rounds 1]
                    [--prefill-chunk 256 (prompt positions per forward)] [--cache DIR] [--threads N] [--no-probe] [--json]
          llamacpp  ours against llama.cpp on the same weights (GGUF export, llama-quantize), per format: prefill, decode at depth 0 and
                    --prompt, peak RSS, share of the bandwidth limit; alternating rounds --llama-bench PATH [--llama-quantize PATH]
                    [--llama-batched-bench PATH] [--models 70m,1b] [--formats f32,bf16,int8,int4] [--prompt 511] [--new-tokens 33]
                    [--reps 3] [--rounds 2] [--threads 2] [--kv-cache model|f16|bf16 (ours; llama.cpp's is f16)] [--prefill-chunk 256] [--cache DIR] [--json]
          llamacpp-image  an image prompt on the 69.5M LLaVA-1.5 shape against llama.cpp's llama-llava-cli on the same weights, per
                    format: tower + projector ms, the prompt's forward pass over the same positions, peak RSS; alternating rounds
                    --llava-cli PATH (llama-bench and llama-quantize beside it) [--formats f32,bf16,int8,int4] [--reps 5] [--rounds 2]
                    [--threads 2] [--image FILE] [--cache DIR] [--json]
          attention one decode step's attention per layer: libtorch eager and sdpa against the C# decode kernel (f32, f16 and bf16
                    caches) [--depths 16,512,2048] [--reps 200]
          prefill-attention  a prompt's causal attention per layer: eager and sdpa with the decoder's mask, libtorch's is_causal, the C# kernel
                    [--lengths 134,512,2048] [--reps 10] [--threads N]
          kernels   GB/s of the weight-format kernels (f32, bf16, f16, int8, int4; 1 and 4 tokens) on 1.1B LLaMA matrices, against
                    libtorch's f32/bf16 matrix-vector products and a read-bandwidth probe [--shape 1b|70m (70m: 512-wide rows and a 32000-row head)]
                    [--layers 4] [--reps 10] [--threads N] [--formats ...]
          gemm      prefill-sized products, GFLOP/s: our tiled product, integer products (int8, int4) and row kernels per weight format against libtorch's f32
                    GEMM on 1.1B and 70m matrix shapes [--tokens 16,134,512] [--formats f32,bf16,int8,int4] [--reps 5] [--threads N] [--skip-rows] [--isa avx512|avx2|scalar]
          load-rss  peak RSS of loading a >= 1 GB checkpoint (single file and sharded) in a child process
                    [--preset 1b] [--dtype bf16|f32] [--shard-mb 512] [--forward-tokens 8] [--cache DIR] [--keep] [--json]
          vision    time per image: decode + preprocess, CLIP tower, projector (llava-tiny-a and a ViT-L/14-336 shape)
                    [--warmup 1] [--reps 5] [--threads N] [--skip-large]
          soak      RSS over thousands of requests with images (whole, streamed, cancelled, chat client, hostile inputs),
                    the model disposed mid-wave every few waves; exit 1 on any unexpected outcome
                    [--requests 3000] [--wave 12] [--dispose-every 10] [--report-every 500] [--prompt-cache-mb 1024] [--threads N] [--json]
          structured  constrained decoding's cost per token over real vocabularies (masks computed vs cached), less the same
                    loop without a grammar [--tokens 96] [--seeds 8] [--tokenizers DIR,DIR] [--json]
          jpeg      JPEG decode time: the loader's libjpeg-turbo path against ImageSharp's decoder, 3 photo sizes [--reps 20] [--json]
          serve     load test of `llava-modal serve` over HTTP: 1/8/32/64 clients streaming image chats; throughput, p50/p99
                    latency and time to first token, largest batch, RSS; max-batch 1 for comparison; the prompt cache's saving
                    [--model DIR] [--clients 1,8,32,64] [--requests 64] [--max-tokens 16] [--max-batch 32] [--skip-unbatched] [--threads N] [--json]
        """;
}
