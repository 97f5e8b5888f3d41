"""HistoryAD's detection on a 2-D toy over seeds, at the lab-04 defaults.

    .venv/bin/python benchmarks/historyad_2d_seeds.py --seeds 0 1 2 --out runs/benchmarks/historyad_2d_seeds.json
    .venv/bin/python benchmarks/historyad_2d_seeds.py --seeds 0 --config '{"beta": 2.0}'   # one knob changed

Trains on ``--n-train`` points of the toy, tests on 2,000 fresh normal points and 2,000
anomalies (half far, half near; ``adlib.data.toy_split``) and writes, per seed and as
mean ± SD, AUROC, AUPRC, best-threshold F1, AUROC on the far and near anomalies alone, the
median scores of normal and anomalous points and the fit time. Not a test.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import adlib

LAB04 = {"epochs": 10, "saves_per_epoch": 10, "batch": 32, "momentum": 0.9, "alpha": 1.0, "beta": 0.5,
         "lam": 10.0, "case": 2, "tv_steps": 4000, "tv_lr": 1e-3, "pool": 20000,
         "hidden": (256, 256)}  # the toy settings of notebooks/04_historyad.ipynb


def one(seed: int, toy_name: str, n_train: int, config: dict) -> dict:
    toy = adlib.data.toy(toy_name)
    split = adlib.data.toy_split(toy, 2000, 2000, seed=seed, n_train=n_train)
    t0 = time.time()
    det = adlib.methods.make("historyad", **{**LAB04, **config}, seed=seed, progress=False).fit(split.train_x)
    row = {"fit_seconds": time.time() - t0}
    s = det.score(split.test_x)
    row.update(adlib.metrics.toy_report(split, s))
    row.update(median_normal=float(s[split.test_y == 0].median()),
               median_anomaly=float(s[split.test_y == 1].median()))
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--toy", default="bimodal")
    p.add_argument("--n-train", type=int, default=3000)
    p.add_argument("--config", type=json.loads, default={}, help="JSON: options that replace the lab's")
    p.add_argument("--out", default="runs/benchmarks/historyad_2d_seeds.json")
    a = p.parse_args()
    rows = []
    for s in a.seeds:
        rows.append(one(s, a.toy, a.n_train, a.config))
        print(f"seed {s}: " + ", ".join(f"{k} {v:.3f}" for k, v in rows[-1].items()), flush=True)
    summary = adlib.runs.mean_sd(rows)
    for k, v in summary.items():
        print(f"{k:16s} {v['mean']:.3f} ± {v['sd']:.3f}")
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"toy": a.toy, "n_train": a.n_train, "config": {**LAB04, **a.config},
                               "seeds": a.seeds, "per_seed": rows, "summary": summary}, indent=2))
    print("wrote", out)


if __name__ == "__main__":
    main()
