"""Throughput and peak memory of the learned density on MNIST (issue 4, item 7).

    .venv/bin/python benchmarks/flow_mnist_throughput.py --steps 20 --out runs/benchmarks/flow_mnist.json

Measures, at batch 256 on the MNIST LOO training split (anomaly = digit 0):
* flow training (the kit's image flow: RealNVP on flattened 28x28, 5 layers, 512x512
  conditioners, maximum likelihood; ``--kind maf`` for the MAF): samples / s,
* one BDSG step on that flow (B: MLP 64-256-256-784, loss eq. 3-4 with M = 1024): samples / s,
* one TailGAN step (T: a copy of the flow's sampler, loss eq. 6-7 with M = 1024; RealNVP
  only, a MAF samples one pixel at a time): samples / s,
and the process's peak resident memory (CPU) or peak CUDA memory. Not a test.
"""
from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import torch

import adlib
from adlib.boundary import bdsg_terms, density_scale
from adlib.density import Flow


def timed(fn, steps: int) -> float:
    fn()  # warm-up
    t0 = time.perf_counter()
    for _ in range(steps):
        fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--kind", default="realnvp", choices=["realnvp", "maf"])
    p.add_argument("--out", default="runs/benchmarks/flow_mnist.json")
    a = p.parse_args()
    dev = adlib.device()
    x = adlib.data.loo("mnist", 0).train_x.to(dev)
    flow = Flow(kind=a.kind, transforms=5, hidden=(512, 512), steps=0, progress=False).fit(x.cpu())
    flow.to(dev)
    opt = torch.optim.Adam(flow.flow.parameters(), lr=1e-3)

    def flow_step():
        nll = -flow.log_prob(x[torch.randint(len(x), (a.batch,), device=dev)]).mean()
        opt.zero_grad()
        nll.backward()
        opt.step()

    flow_s = timed(flow_step, a.steps)
    flow.requires_grad_(False)
    B = adlib.nets.mlp([64, 256, 256, 784]).to(dev)
    opt_b = torch.optim.Adam(B.parameters(), lr=1e-3)

    def bdsg_step():
        z = torch.randn(a.batch, 64, device=dev)
        xs = x[torch.randint(len(x), (1024,), device=dev)]
        t = bdsg_terms(B(z), z, xs, density_scale(flow.log_prob, 784))
        loss = t["L0"] + 0.3 * t["L1"] + 0.025 * t["L2"]
        opt_b.zero_grad()
        loss.backward()
        opt_b.step()

    bdsg_s = timed(bdsg_step, a.steps)
    tail_rate = None
    if a.kind == "realnvp":
        det = adlib.methods.make("tailgan", density=flow.cpu(), steps=a.steps + 1, progress=False)
        xc = x.cpu()[:20000]
        t0 = time.perf_counter()
        det.fit(xc)  # includes one copy of the flow; the steps dominate
        tail_rate = a.batch * (a.steps + 1) / (time.perf_counter() - t0)
    peak = (torch.cuda.max_memory_allocated() / 2**20 if dev == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    result = {"device": dev, "torch_threads": torch.get_num_threads(), "batch": a.batch,
              "steps": a.steps, "flow": f"{a.kind}, 5 transforms, hidden (512, 512)",
              "flow_train_samples_per_s": a.batch * a.steps / flow_s,
              "bdsg_step_samples_per_s": a.batch * a.steps / bdsg_s,
              "tailgan_step_samples_per_s": tail_rate,
              "peak_memory_mib": peak,
              "peak_memory_kind": "cuda allocated" if dev == "cuda" else "process max RSS"}
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
