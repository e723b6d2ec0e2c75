"""PyTorch CPU peer of bench_mlp_step.c: the same MLP training step
(784-H-H-10, ReLU, cross-entropy, AdamW), same batch, same thread count.
Prints one line: 'torch_ms_per_step <ms>'.
--device cuda: CUDA eager with the batch on the GPU, synchronized before and after
the timed steps; --matmul fp32|tf32|bf16 sets float32_matmul_precision
highest|high|medium; also prints 'torch_peak_mib <MiB>'."""
import argparse
import time

import torch

p = argparse.ArgumentParser()
p.add_argument("--batch", type=int, default=128)
p.add_argument("--hidden", type=int, default=256)
p.add_argument("--steps", type=int, default=200)
p.add_argument("--warmup", type=int, default=20)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
p.add_argument("--matmul", choices=["fp32", "tf32", "bf16"], default="fp32")
a = p.parse_args()
cuda = a.device == "cuda"
if cuda:
    torch.set_float32_matmul_precision({"fp32": "highest", "tf32": "high", "bf16": "medium"}[a.matmul])
torch.set_num_threads(a.threads)
torch.manual_seed(0)
model = torch.nn.Sequential(
    torch.nn.Linear(784, a.hidden), torch.nn.ReLU(),
    torch.nn.Linear(a.hidden, a.hidden), torch.nn.ReLU(),
    torch.nn.Linear(a.hidden, 10)).to(a.device)
opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.0)
x = torch.randn(a.batch, 784).to(a.device)
y = torch.randint(0, 10, (a.batch,)).to(a.device)


def step():
    opt.zero_grad(set_to_none=False)
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    return loss


for _ in range(a.warmup):
    step()
if cuda:
    torch.cuda.synchronize()
t = time.perf_counter()
for _ in range(a.steps):
    step()
if cuda:
    torch.cuda.synchronize()
dt = (time.perf_counter() - t) / a.steps
print(f"torch_ms_per_step {dt * 1e3:.4f}")
if cuda:
    print(f"torch_peak_mib {torch.cuda.max_memory_allocated() / 2**20:.1f}")
