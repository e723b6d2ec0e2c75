"""PyTorch CPU peer of bench_attention.c: causal attention forward+backward
with a materialized [B,H,T,T] attention matrix, same loss, same thread count.

Timing mode prints one line:
  torch_result T=<T> impl=<entropy|plain> ms=<median> peak_kib=<ru_maxrss> base_kib=<after import> reps=<n> min_ms=<fastest>
Check mode (--check=DIR) reads q, k, v, r (raw float32 [B,H,T,D]) from DIR,
computes in float64, writes o, h, dq, dk, dv as raw float32 next to them and
prints 'torch_check ok'."""
import argparse
import os
import resource
import time

import numpy as np
import torch


def rss_kib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def step(q, k, v, r, mask, lam, entropy):
    """Returns (o, h); h is None without entropy. Runs backward."""
    s = (q @ k.transpose(-1, -2)) * (q.shape[-1] ** -0.5)
    s = s.masked_fill(mask, float("-inf"))
    h = None
    if entropy:
        logp = torch.log_softmax(s, dim=-1)
        p = logp.exp()
        o = p @ v
        # Masked entries have p = 0 and logp = -inf: zero logp there (masked_fill
        # gives them no gradient), so neither H nor its gradient sees 0 * -inf.
        h = -(p * logp.masked_fill(mask, 0.0)).sum(-1)
        loss = (o * r).sum() + lam * h.mean()
    else:
        p = torch.softmax(s, dim=-1)
        o = p @ v
        loss = (o * r).sum()
    loss.backward()
    return o, h


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--T", type=int, default=1024)
    ap.add_argument("--B", type=int, default=1)
    ap.add_argument("--H", type=int, default=4)
    ap.add_argument("--D", type=int, default=64)
    ap.add_argument("--impl", choices=["entropy", "plain"], default="entropy")
    ap.add_argument("--lam", type=float, default=0.1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--min-time", type=float, default=1.0)
    ap.add_argument("--check", default="")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    shape = (a.B, a.H, a.T, a.D)

    if a.check:
        def load(name):
            x = np.fromfile(os.path.join(a.check, name + ".bin"), dtype=np.float32).reshape(shape)
            return torch.from_numpy(x).double()
        q, k, v = (load(n).requires_grad_() for n in ("q", "k", "v"))
        r = load("r")
        mask = torch.triu(torch.ones(a.T, a.T, dtype=torch.bool), diagonal=1)
        o, h = step(q, k, v, r, mask, a.lam, True)
        for name, t in (("o", o), ("h", h), ("dq", q.grad), ("dk", k.grad), ("dv", v.grad)):
            t.detach().float().numpy().tofile(os.path.join(a.check, name + ".bin"))
        print("torch_check ok")
        return

    # Start the thread pool before the baseline, as the C side does.
    torch.randn(256, 256) @ torch.randn(256, 256)
    base = rss_kib()
    torch.manual_seed(1000 + a.T)
    q, k, v = (torch.randn(shape).requires_grad_() for _ in range(3))
    r = torch.randn(shape)
    mask = torch.triu(torch.ones(a.T, a.T, dtype=torch.bool), diagonal=1)
    entropy = a.impl == "entropy"
    times, total, it = [], 0.0, 0
    while True:
        q.grad = k.grad = v.grad = None
        t0 = time.perf_counter()
        step(q, k, v, r, mask, a.lam, entropy)
        dt = time.perf_counter() - t0
        it += 1
        if it <= a.warmup:
            continue
        times.append(dt)
        total += dt
        if len(times) >= 200 or (len(times) >= a.reps and total >= a.min_time):
            break
    times.sort()
    n = len(times)
    med = times[n // 2] if n % 2 else 0.5 * (times[n // 2 - 1] + times[n // 2])
    print(f"torch_result T={a.T} impl={a.impl} ms={med * 1e3:.4f} peak_kib={rss_kib()} base_kib={base} reps={n} min_ms={times[0] * 1e3:.4f}")


if __name__ == "__main__":
    main()
