"""BDSG's boundary quality on the bimodal toy over seeds, at the lab-01 defaults.

    .venv/bin/python benchmarks/bdsg_2d_seeds.py --seeds 0 1 2 --out runs/benchmarks/bdsg_2d_seeds.json

Writes per-seed metrics (BP1, far share, min mode share, min angular coverage, with and
without the scattering term) and their mean ± SD. Not a test: it takes ~1.5 min per seed on
2 CPU cores.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import adlib


def one(seed: int, steps: int, lambda2: float | None) -> dict:
    toy = adlib.data.toy("bimodal")
    kw = {} if lambda2 is None else {"lambda2": lambda2}
    t0 = time.time()
    det = adlib.methods.make("bdsg", density=toy, steps=steps, seed=seed, progress=False, **kw)
    det.fit(toy.sample(10_000, seed=seed + 1))
    rep = adlib.metrics.boundary_report(toy, det.boundary(2000, seed=seed))
    return {**rep, "fit_seconds": time.time() - t0}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=8000)
    p.add_argument("--out", default="runs/benchmarks/bdsg_2d_seeds.json")
    a = p.parse_args()
    result = {"steps": a.steps, "seeds": a.seeds, "runs": {}}
    for label, l2 in (("default", None), ("lambda2=0", 0.0)):
        rows = [one(s, a.steps, l2) for s in a.seeds]
        summary = adlib.runs.mean_sd(rows)
        result["runs"][label] = {"per_seed": rows, "summary": summary}
        print(label, {k: f"{v['mean']:.3f} ± {v['sd']:.3f}" for k, v in summary.items()})
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print("wrote", out)


if __name__ == "__main__":
    main()
