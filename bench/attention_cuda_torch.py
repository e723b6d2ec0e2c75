"""PyTorch peer of bench_attention_cuda.c, on the same GPU: the same cases, one
result line each, in the C program's format:
  R kind=<speed|fp32|entropy> T= D= causal= mode=<fwd|fwdbwd|step> impl=<...> status=<ok|n/a|oom|failed> ms=<median> mib=<step MiB> reason=<text>
  I torch <version, GPU, cuDNN>
speed:   scaled_dot_product_attention on bf16 [B,H,T,D] tensors with the flash backend
         (impl flash) and the cuDNN backend (impl cudnn); forward, and forward + o.backward(dout).
fp32:    the same on fp32 tensors with torch's default backend choice (impl sdpa_fp32).
entropy: loss = sum(O*g) + lambda*sum(H), H = -sum_j p log p of softmax(QK^T*scale), with
         the attention materialized (bf16 matmuls, fp32 softmax; impl materialized), and
         the plain loss sum(O*g) through flash (impl flash_plain); mib = peak allocated
         during one step minus what was allocated before it (inputs excluded).
Timing: CUDA events around each repetition on an idle GPU; median of the timed reps."""
import argparse
import contextlib
import sys

import torch
import torch.nn.functional as F


def ints(s):
    return [int(x) for x in s.split(",") if x]


def backend(name):
    """Context that restricts SDPA to one backend; raises if this torch lacks it."""
    try:
        from torch.nn.attention import SDPBackend, sdpa_kernel
    except ImportError:   # torch < 2.3: no cuDNN backend, older switch
        if name == "cudnn":
            raise RuntimeError(f"torch {torch.__version__} has no cuDNN SDPA backend")
        return torch.backends.cuda.sdp_kernel(enable_flash=name == "flash", enable_math=False,
                                              enable_mem_efficient=False)
    b = {"flash": "FLASH_ATTENTION", "cudnn": "CUDNN_ATTENTION"}[name]
    if not hasattr(SDPBackend, b):
        raise RuntimeError(f"torch {torch.__version__} has no SDPBackend.{b}")
    return sdpa_kernel(getattr(SDPBackend, b))


def time_fn(fn, warmup, reps, max_time):
    """Median ms of fn over the timed reps (stops after 3 once max_time s are timed)."""
    for _ in range(warmup):
        fn()
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times, total = [], 0.0
    while len(times) < min(reps, 200):
        torch.cuda.synchronize()
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        t = start.elapsed_time(stop)
        times.append(t)
        total += t
        if len(times) >= 3 and total >= max_time * 1e3:
            break
    times.sort()
    n = len(times)
    med = times[n // 2] if n % 2 else 0.5 * (times[n // 2 - 1] + times[n // 2])
    return med, times[0], n


def emit(kind, T, D, causal, mode, impl, status, ms=-1.0, mib=-1.0, reason=""):
    reason = " ".join(str(reason).split())[:190]
    print(f"R kind={kind} T={T} D={D} causal={causal} mode={mode} impl={impl} status={status} ms={ms:.5f} "
          f"mib={mib:.1f} reason={reason}", flush=True)


def failure(e):
    """(status, reason) of an exception from a case."""
    msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    oom = getattr(torch.cuda, "OutOfMemoryError", None)
    if (oom is not None and isinstance(e, oom)) or "out of memory" in msg:
        return "oom", msg
    if "No available kernel" in msg or "has no" in msg or "not supported" in msg.lower():
        return "n/a", msg
    return "failed", msg


def run_case(kind, T, D, causal, mode, impl, fn, warmup, reps, max_time, ctx=None, measure_mem=False, clear=()):
    try:
        with (ctx() if ctx else contextlib.nullcontext()):
            med, fastest, n = time_fn(fn, warmup, reps, max_time)
            mib = -1.0
            if measure_mem:
                for t in clear:
                    t.grad = None
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
                base = torch.cuda.memory_allocated()
                fn()
                torch.cuda.synchronize()
                mib = (torch.cuda.max_memory_allocated() - base) / 2**20
        emit(kind, T, D, causal, mode, impl, "ok", med, mib, f"reps={n} min_ms={fastest:.5f}")
    except Exception as e:  # noqa: BLE001 - every failure becomes a result line
        status, msg = failure(e)
        emit(kind, T, D, causal, mode, impl, status, reason=msg)
    finally:
        for t in clear:
            t.grad = None
        torch.cuda.empty_cache()


def shape(a, T, D):
    return (max(a.tokens // T, 1), max(a.hidden // D, 1), T, D)


def speed(a):
    cases = [(T, D) for D in ints(a.D) for T in ints(a.T)]
    for T, D in cases:
        sh = shape(a, T, D)
        q, k, v = (torch.randn(sh, device="cuda", dtype=torch.bfloat16, requires_grad=True) for _ in range(3))
        dout = torch.randn(sh, device="cuda", dtype=torch.bfloat16)
        for causal in ints(a.causal):
            for impl in ("flash", "cudnn"):
                def fwd():
                    return F.scaled_dot_product_attention(q, k, v, is_causal=bool(causal))

                def fwdbwd():
                    q.grad = k.grad = v.grad = None
                    F.scaled_dot_product_attention(q, k, v, is_causal=bool(causal)).backward(dout)

                for mode, fn in (("fwd", fwd), ("fwdbwd", fwdbwd)):
                    run_case("speed", T, D, causal, mode, impl, fn, a.warmup, a.reps, a.max_time,
                             ctx=lambda impl=impl: backend(impl), clear=(q, k, v))
        del q, k, v, dout
        torch.cuda.empty_cache()
    for T in ints(a.fp32_T):
        sh = shape(a, T, 64)
        q, k, v = (torch.randn(sh, device="cuda", requires_grad=True) for _ in range(3))
        dout = torch.randn(sh, device="cuda")

        def fwd():
            return F.scaled_dot_product_attention(q, k, v)

        def fwdbwd():
            q.grad = k.grad = v.grad = None
            F.scaled_dot_product_attention(q, k, v).backward(dout)

        for mode, fn in (("fwd", fwd), ("fwdbwd", fwdbwd)):
            run_case("fp32", T, 64, 0, mode, "sdpa_fp32", fn, a.warmup, a.reps, a.max_time, clear=(q, k, v))
        del q, k, v, dout
        torch.cuda.empty_cache()


def entropy(a):
    for D in ints(a.ent_D):
        for causal in ints(a.ent_causal):
            for T in ints(a.ent_T):
                sh = shape(a, T, D)
                q, k, v = (torch.randn(sh, device="cuda", dtype=torch.bfloat16, requires_grad=True) for _ in range(3))
                g = torch.randn(sh, device="cuda")
                mask = torch.ones(T, T, device="cuda", dtype=torch.bool).triu(1) if causal else None
                scale = D ** -0.5

                def materialized():
                    q.grad = k.grad = v.grad = None
                    s = torch.matmul(q, k.transpose(-1, -2)).float() * scale
                    if mask is not None:
                        s = s.masked_fill(mask, float("-inf"))
                    logp = torch.log_softmax(s, dim=-1)
                    p = logp.exp()
                    o = torch.matmul(p.to(q.dtype), v)
                    # Masked entries: p = 0, logp = -inf; zero logp there so neither H
                    # nor its gradient sees 0 * -inf.
                    lp = logp.masked_fill(mask, 0.0) if mask is not None else logp
                    h = -(p * lp).sum(-1)
                    loss = (o.float() * g).sum() + a.lam * h.sum()
                    loss.backward()

                def flash_plain():
                    q.grad = k.grad = v.grad = None
                    o = F.scaled_dot_product_attention(q, k, v, is_causal=bool(causal))
                    (o.float() * g).sum().backward()

                run_case("entropy", T, D, causal, "step", "materialized", materialized, a.ent_warmup, a.ent_reps,
                         a.max_time, measure_mem=True, clear=(q, k, v))
                run_case("entropy", T, D, causal, "step", "flash_plain", flash_plain, a.ent_warmup, a.ent_reps,
                         a.max_time, ctx=lambda: backend("flash"), measure_mem=True, clear=(q, k, v))
                del q, k, v, g, mask
                torch.cuda.empty_cache()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--suite", choices=["all", "speed", "entropy"], default="all")
    ap.add_argument("--T", default="512,1024,2048,4096,8192,16384")
    ap.add_argument("--D", default="64,128")
    ap.add_argument("--causal", default="0,1")
    ap.add_argument("--fp32-T", default="1024,4096")
    ap.add_argument("--ent-T", default="1024,2048,4096")
    ap.add_argument("--ent-D", default="64,128")
    ap.add_argument("--ent-causal", default="0,1")
    ap.add_argument("--tokens", type=int, default=16384)
    ap.add_argument("--hidden", type=int, default=2048)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--ent-warmup", type=int, default=2)
    ap.add_argument("--ent-reps", type=int, default=7)
    ap.add_argument("--max-time", type=float, default=1.0)
    ap.add_argument("--lambda", dest="lam", type=float, default=0.1)
    a = ap.parse_args()
    if not torch.cuda.is_available():
        print(f"error: torch {torch.__version__} sees no CUDA GPU", file=sys.stderr)
        return 1
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    print(f"I torch torch {torch.__version__} (CUDA {torch.version.cuda}, cuDNN {cudnn}) on "
          f"{torch.cuda.get_device_name()}", flush=True)
    torch.manual_seed(0)
    if a.suite in ("all", "speed"):
        speed(a)
    if a.suite in ("all", "entropy"):
        entropy(a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
