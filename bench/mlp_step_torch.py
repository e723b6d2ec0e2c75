"""PyTorch CPU peer of bench_mlp_step.c: the same MLP training step
(784-H-H-10, ReLU, cross-entropy, AdamW), same batch, same thread count.
Prints one line: 'torch_ms_per_step <ms>'."""
import argparse
import time

import torch

p = argparse.ArgumentParser()
p.add_argument("--batch", type=int, default=128)
p.add_argument("--hidden", type=int, default=256)
p.add_argument("--steps", type=int, default=200)
p.add_argument("--warmup", type=int, default=20)
p.add_argument("--threads", type=int, default=2)
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)
model = torch.nn.Sequential(
    torch.nn.Linear(784, a.hidden), torch.nn.ReLU(),
    torch.nn.Linear(a.hidden, a.hidden), torch.nn.ReLU(),
    torch.nn.Linear(a.hidden, 10))
opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.0)
x = torch.randn(a.batch, 784)
y = torch.randint(0, 10, (a.batch,))


def step():
    opt.zero_grad(set_to_none=False)
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    return loss


for _ in range(a.warmup):
    step()
t = time.perf_counter()
for _ in range(a.steps):
    step()
dt = (time.perf_counter() - t) / a.steps
print(f"torch_ms_per_step {dt * 1e3:.4f}")
