"""PyTorch CPU peer of bench_mil_step.c: one gated-ABMIL training step on a bag
of N instances (Linear F->D no bias + ReLU + Dropout, gated attention A, C
classes), loss CE + lambda * sum(softmax(s) * log_softmax(s)) as the AEM code,
AdamW. The modules are the official ones (AEM architecture/transformer.py).
Prints 'blas_threads <n>' (-1: not OpenBLAS) and
'torch_ms_per_step <best ms> median <median ms>'.
--device cuda: the same step in CUDA eager mode, bag and label on the GPU, each step
synchronized before and after (wall clock); --matmul fp32|tf32|bf16 sets
float32_matmul_precision highest|high|medium. Also prints 'torch_peak_mib <MiB>'
(max_memory_allocated)."""
import argparse
import ctypes
import re
import time

import torch
import torch.nn.functional as F
from torch import nn

p = argparse.ArgumentParser()
p.add_argument("--n", type=int, default=2000)
p.add_argument("--d-feat", type=int, default=1024)
p.add_argument("--d-inner", type=int, default=512)
p.add_argument("--d-attn", type=int, default=128)
p.add_argument("--classes", type=int, default=2)
p.add_argument("--dropout", type=float, default=0.25)
p.add_argument("--lam", type=float, default=0.1)
p.add_argument("--steps", type=int, default=20)
p.add_argument("--warmup", type=int, default=3)
p.add_argument("--threads", type=int, default=1)
p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
p.add_argument("--matmul", choices=["fp32", "tf32", "bf16"], default="fp32")
a = p.parse_args()
cuda = a.device == "cuda"
if cuda:
    torch.set_float32_matmul_precision({"fp32": "highest", "tf32": "high", "bf16": "medium"}[a.matmul])
torch.set_num_threads(a.threads)
torch.manual_seed(0)


class AttentionGated(nn.Module):
    def __init__(self, L, D, K=1):
        super().__init__()
        self.attention_V = nn.Sequential(nn.Linear(L, D), nn.Tanh())
        self.attention_U = nn.Sequential(nn.Linear(L, D), nn.Sigmoid())
        self.attention_weights = nn.Linear(D, K)

    def forward(self, x):
        return self.attention_weights(self.attention_V(x) * self.attention_U(x)).transpose(1, 0)


class ABMIL(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(a.d_feat, a.d_inner, bias=False)
        self.drop = nn.Dropout(a.dropout)
        self.attention = AttentionGated(a.d_inner, a.d_attn, 1)
        self.fc = nn.Linear(a.d_inner, a.classes)

    def forward(self, x):
        h = self.drop(torch.relu(self.fc1(x)))
        s = self.attention(h)                       # [1, N]
        z = torch.mm(F.softmax(s, dim=1), h)        # [1, D]
        return self.fc(z), s


model = ABMIL().train().to(a.device)
opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=1e-5)
x = torch.randn(a.n, a.d_feat).to(a.device)
y = torch.tensor([1]).to(a.device)


def step():
    opt.zero_grad(set_to_none=False)
    logits, s = model(x)
    loss = F.cross_entropy(logits, y) + a.lam * torch.sum(F.softmax(s, dim=-1) * F.log_softmax(s, dim=-1))
    loss.backward()
    opt.step()


for _ in range(a.warmup):
    step()
times = []
for _ in range(a.steps):
    if cuda:
        torch.cuda.synchronize()
    t = time.perf_counter()
    step()
    if cuda:
        torch.cuda.synchronize()
    times.append(time.perf_counter() - t)
times.sort()
# torch.set_num_threads sets the intra-op (OpenMP) threads; Debian's torch calls
# the system BLAS (pthread OpenBLAS), which keeps its own thread count.
blas = -1
for path in sorted(set(re.findall(r"/\S*openblas\S*\.so\S*", open("/proc/self/maps").read()))):
    try:
        blas = ctypes.CDLL(path).openblas_get_num_threads()
        break
    except (OSError, AttributeError):
        pass
print(f"blas_threads {blas}")
print(f"torch_ms_per_step {times[0] * 1e3:.4f} median {times[len(times) // 2] * 1e3:.4f}")
if cuda:
    print(f"torch_peak_mib {torch.cuda.max_memory_allocated() / 2**20:.1f}")
