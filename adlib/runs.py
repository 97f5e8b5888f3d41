"""Run folders and recorded metrics.

A lab ends with ``record("lab01", bp1=..., far_share=...)``, which writes
``<runs root>/lab01/metrics.json``. Tests, sweeps and ``make run`` read those files
(``read``, ``collect``). The runs root is ``$ADLIB_RUNS`` if set, else ``<repo>/runs``.
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import os
import re
import warnings
from pathlib import Path

import numpy as np
import torch


def root() -> Path:
    """``$ADLIB_RUNS`` if set, else ``<repo>/runs``."""
    env = os.environ.get("ADLIB_RUNS")
    return Path(env) if env else Path(__file__).resolve().parents[1] / "runs"


def run_dir(name: str) -> Path:
    """``<runs root>/<name>``, created. Use it for scores, figures and checkpoints."""
    if not re.fullmatch(r"[A-Za-z0-9_.\-/]+", name) or ".." in name:
        raise ValueError(f"run name {name!r} may hold only letters, digits, _ . - and /")
    d = root() / name
    d.mkdir(parents=True, exist_ok=True)
    return d


def _plain(v):
    if torch.is_tensor(v) or isinstance(v, np.ndarray):
        v = v.tolist()
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, (list, tuple)):
        return [_plain(u) for u in v]
    if isinstance(v, dict):
        return {str(k): _plain(u) for k, u in v.items()}
    if isinstance(v, float) and not math.isfinite(v):
        raise ValueError(f"cannot record a non-finite value {v}")
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    raise TypeError(f"cannot record a value of type {type(v).__name__}: {v!r}")


def record(name: str, **values) -> Path:
    """Write ``values`` to ``<runs root>/<name>/metrics.json`` and return its path.

    Values must be numbers, strings, bools or lists/dicts of them (tensors are converted).
    The file also holds ``_meta`` (time, ADLIB_QUICK). A different earlier run is never
    overwritten silently: it is moved to ``<name>/previous/metrics-<time>.json`` with a
    warning. Recording the same values again changes nothing.
    """
    if not values:
        raise ValueError("record() needs at least one value")
    values = {k: _plain(v) for k, v in values.items()}
    path = run_dir(name) / "metrics.json"
    if path.exists():
        old = json.loads(path.read_text())
        if {k: v for k, v in old.items() if k != "_meta"} == values:
            return path
        stamp = old.get("_meta", {}).get("time", "old").replace(":", "")
        keep = path.parent / "previous" / f"metrics-{stamp}.json"
        keep.parent.mkdir(exist_ok=True)
        os.replace(path, keep)
        warnings.warn(f"{path} held a different run; it was moved to {keep}", stacklevel=2)
    meta = {"time": _dt.datetime.now().isoformat(timespec="seconds"),
            "quick": os.environ.get("ADLIB_QUICK") == "1"}
    path.write_text(json.dumps({**values, "_meta": meta}, indent=2))
    return path


def read(name: str) -> dict:
    """The values recorded under ``name`` (without ``_meta``)."""
    path = root() / name / "metrics.json"
    if not path.exists():
        raise FileNotFoundError(f"no recorded run {name!r}: {path} does not exist")
    return {k: v for k, v in json.loads(path.read_text()).items() if k != "_meta"}


def mean_sd(rows: list[dict]) -> dict:
    """Per key of ``rows`` (one dict of numbers per seed): {"mean", "sd"} with the sample
    standard deviation (0 for one row): the "mean ± SD over seeds" of headline numbers."""
    import statistics

    if not rows:
        raise ValueError("mean_sd needs at least one row")
    return {k: {"mean": statistics.mean(r[k] for r in rows),
                "sd": statistics.stdev(r[k] for r in rows) if len(rows) > 1 else 0.0}
            for k in rows[0]}


def collect(where=None):
    """Every ``metrics.json`` under the runs root as a long DataFrame
    (run, metric, value, quick, time); scalar values only."""
    import pandas as pd

    base = Path(where) if where else root()
    rows = []
    for p in sorted(base.glob("**/metrics.json")):
        if "previous" in p.parts:
            continue
        data = json.loads(p.read_text())
        meta = data.pop("_meta", {})
        run = p.parent.relative_to(base).as_posix()
        for k, v in data.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                rows.append({"run": run, "metric": k, "value": v,
                             "quick": meta.get("quick"), "time": meta.get("time")})
    return pd.DataFrame(rows, columns=["run", "metric", "value", "quick", "time"])


# The kit's own full-scale lab runs (seed 0), shipped with the package and written by
# `benchmarks/full_labs.py`: what the labs show beside a student's run instead of typing
# full-run numbers into their prose.
KIT_RUNS = Path(__file__).resolve().parent / "recorded" / "labs.json"


def kit_run(lab: str) -> dict:
    """The kit's recorded full-scale run of ``lab`` (e.g. ``"lab03"``): ``{"metrics",
    "config", "seed", "command", "commit", "finished", "wall_seconds", "machine"}``, or ``{}``
    when none is recorded yet."""
    book = json.loads(KIT_RUNS.read_text()) if KIT_RUNS.exists() else {}
    return book.get(lab, {})


def versus(lab: str, **yours):
    """A table of your run's values (keyword = the lab's metric key) beside the kit's full
    run of the same lab, seed 0, read from ``KIT_RUNS``. A key the kit's run did not record
    is an error (a renamed metric must not vanish from the comparison); a lab not recorded
    yet gives an empty column that says so."""
    import pandas as pd

    if not yours:
        raise ValueError("versus() needs at least one value of your run, e.g. auroc_final=0.91")
    kit = kit_run(lab)
    if kit:
        missing = sorted(set(yours) - set(kit["metrics"]))
        if missing:
            raise KeyError(f"the kit's full run of {lab} recorded no {missing}; "
                           f"it has {sorted(kit['metrics'])}")
        column = f"kit's full run (seed {kit['seed']})"
        theirs = [kit["metrics"][k] for k in yours]
    else:
        column, theirs = "kit's full run (not recorded yet)", [float("nan")] * len(yours)
    return pd.DataFrame({"your run": [_plain(v) for v in yours.values()], column: theirs},
                        index=pd.Index(list(yours), name=lab))


# What `make run` prints per lab: a plain title and its few headline numbers (keys of the
# lab's metrics.json; an item whose key a lab did not record is left out).
HEADLINES = {
    "lab01": ("lab 01 BDSG on the exact density, bimodal toy",
              ["boundary precision BP1 {bp1:.2f}", "far share {far_share:.2f}", "AUROC {auroc_bimodal:.3f}",
               "BP1 with the paper's λ {paper_lambda_bp1:.2f}"]),
    "lab02": ("lab 02 BDSG and TailGAN on a learned flow",
              ["grid F1 {grid_f1:.2f}", "BP1 {bp1:.2f} (true) vs BP2 {bp2:.2f} (learned)",
               "MNIST AUROC BDSG {mnist_auroc_bdsg:.3f}", "TailGAN {mnist_auroc_tailgan:.3f}"]),
    "lab03": ("lab 03 OMASGAN, bimodal toy",
              ["AUROC Task 1 {auroc_task1:.2f} → J {auroc_final:.2f}", "near anomalies {auroc_final_near:.2f}",
               "MNIST J {mnist_auroc:.3f}"]),
    "lab04": ("lab 04 HistoryAD",
              ["2-D AUROC {auroc_2d:.3f}", "MNIST → Fashion-MNIST AUROC {auroc_mnist_fashion:.3f}"]),
    "lab05": ("lab 05 survey baselines, one MNIST digit",
              ["AUROC AnoGAN {auroc_anogan:.3f}", "EGBAD {auroc_egbad:.3f}", "GANomaly {auroc_ganomaly:.3f}",
               "kNN {auroc_knn:.3f}", "AnoGAN {test_seconds_per_1000_anogan:.0f} s per 1000 test images"]),
    "lab06": ("lab 06 leave-one-out benchmark",
              ["recorded best on MNIST {best_method_mnist}", "on CIFAR-10 {best_method_cifar10}",
               "your sweep's mean AUROC {own_mean_auroc}"]),
}


def headlines(where=None, strict: bool = False) -> list[str]:
    """One line per lab of ``HEADLINES`` from ``<runs root>/<lab>/metrics.json``: its plain
    title and headline numbers ("not run" when it recorded nothing). ``strict`` raises instead
    of leaving out a lab that did not run or an item whose metric the lab did not record."""
    base = Path(where) if where else root()
    lines = []
    for lab, (title, items) in HEADLINES.items():
        path = base / lab / "metrics.json"
        if not path.exists():
            if strict:
                raise FileNotFoundError(f"{lab} recorded nothing at {path}")
            lines.append(f"{title}: not run")
            continue
        values = json.loads(path.read_text())
        shown = []
        for item in items:
            try:
                shown.append(item.format(**{k: _short(v) for k, v in values.items()}))
            except (KeyError, TypeError, ValueError):
                if strict:
                    raise
                continue
        quick = " (quick mode)" if values.get("_meta", {}).get("quick") else ""
        lines.append(f"{title}{quick}: {', '.join(shown) or 'no headline numbers recorded'}")
    return lines


def _short(v):
    """Dicts of numbers (e.g. method -> AUROC) as 'a 0.85, b 0.71'; everything else as is."""
    if isinstance(v, dict) and v and all(isinstance(x, (int, float)) for x in v.values()):
        return ", ".join(f"{k} {x:.3f}" for k, x in v.items())
    return v
