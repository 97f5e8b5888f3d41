"""Results tables: what sweeps recorded, summarised the way the leave-one-out papers report,
next to the papers' own numbers.

    df = adlib.results.table("loo")          # one row per job of a sweep (tidy)
    s = adlib.results.summary(df)            # per class: mean ± SD over seeds; "mean": over classes
    ref = adlib.results.reference()          # the papers' reported numbers (shipped data)
    kit = adlib.results.recorded()           # the kit's own recorded course-scale sweeps (shipped)
"""
from __future__ import annotations

import json
import math
import numbers
from pathlib import Path

import pandas as pd

COLUMNS = ["method", "dataset", "protocol", "cls", "seed", "auroc", "auprc", "f1", "train_seconds",
           "test_seconds_per_1000", "scale", "device"]
_HERE = Path(__file__).resolve().parent / "recorded"


def _classes(col: pd.Series) -> pd.Series:
    """Class labels as Python ints, None where a job has no class (OOD), other labels as
    they are: pandas reads a column of ints and missing values as floats (0.0, 1.0, NaN)."""
    def one(c):
        if c is None or (isinstance(c, float) and math.isnan(c)):
            return None
        return int(c) if isinstance(c, numbers.Integral) or (isinstance(c, float) and c.is_integer()) else c
    return pd.Series([one(c) for c in col], index=col.index, dtype=object)


def table(name: str, root=None) -> pd.DataFrame:
    """Every finished job of sweep ``name`` under the runs root as one tidy DataFrame:
    ``COLUMNS`` plus ``anomalous``, ``n_train``, ``n_test`` and, for generators, the number
    of normal classes their samples cover (``covered_G``, ``covered_B``, ...). Notebook
    jobs (``adlib sweep --notebook``) add one row each: ``method`` = the notebook's name,
    ``protocol`` = "notebook", their parameters and every metric the lab recorded as columns."""
    from . import runs

    base = (Path(root) if root else runs.root()) / "sweeps" / name
    if not base.is_dir():
        raise FileNotFoundError(f"no sweep {name!r}: {base} does not exist")
    rows = []
    for path in sorted(base.glob("**/metrics.json")):
        if "runs" in path.relative_to(base).parts:  # a notebook job's own lab records
            continue
        rec = json.loads(path.read_text())
        if "notebook" in rec:
            p = rec["params"]
            cls = next((p[k] for k in ("cls", "mnist_digit", "digit", "anomaly") if k in p), None)
            rows.append({"method": Path(rec["notebook"]).stem, "protocol": "notebook", "cls": cls,
                         "seed": p.get("seed"), "train_seconds": rec["seconds"], **p, **rec["metrics"]})
            continue
        row = {k: rec.get(k) for k in COLUMNS}
        row.update(anomalous=rec.get("anomalous"), n_train=rec.get("n_train"), n_test=rec.get("n_test"))
        for gen, cov in (rec.get("coverage") or {}).items():
            row[f"covered_{gen}"] = cov["covered"]
        rows.append(row)
    df = pd.DataFrame(rows)
    for c in COLUMNS:
        if c not in df:
            df[c] = None
    df["cls"] = _classes(df["cls"])
    return df


def summary(df: pd.DataFrame, metric: str = "auroc") -> pd.DataFrame:
    """Per (dataset, protocol, method, class): the mean and SD of ``metric`` over seeds
    (``n`` seeds); then one row per (dataset, protocol, method) with ``cls`` = "mean": the
    mean and SD over classes of the per-class means (``n`` classes), and ``seed_sd``, the
    mean over classes of the SD over seeds. The LOO papers' "mean ± SD" is that last row."""
    keys = ["dataset", "protocol", "method"]
    d = df.dropna(subset=[metric]).copy()
    d["cls"] = d["cls"].astype(object).where(d["cls"].notna(), "all")
    per = (d.groupby(keys + ["cls"], sort=True)[metric]
           .agg(mean="mean", sd=lambda s: s.std(ddof=1) if len(s) > 1 else 0.0, n="count").reset_index())
    overall = (per.groupby(keys, sort=True)
               .agg(mean=("mean", "mean"), sd=("mean", lambda s: s.std(ddof=1) if len(s) > 1 else 0.0),
                    n=("mean", "count"), seed_sd=("sd", "mean")).reset_index())
    overall["cls"] = "mean"
    out = pd.concat([per, overall], ignore_index=True)
    return out[keys + ["cls", "mean", "sd", "n", "seed_sd"]]


def means(summary_df: pd.DataFrame, dataset: str, protocol: str = "loo") -> dict:
    """{method: mean over classes} of one dataset and protocol of a ``summary``."""
    s = summary_df[(summary_df.dataset == dataset) & (summary_df.protocol == protocol)
                   & (summary_df.cls == "mean")]
    return {m: float(v) for m, v in zip(s.method, s["mean"])}


def reference() -> pd.DataFrame:
    """The papers' reported numbers, shipped with the kit (``adlib/recorded/reference.csv``):
    method, dataset, protocol, anomalous, cls (a class or "mean"), auroc, sd, source (the
    paper and its table, figure or section). Empty ``auroc`` where a paper gives only an SD."""
    df = pd.read_csv(_HERE / "reference.csv", dtype={"cls": str})
    df["cls"] = [int(c) if c.isdigit() else c for c in df["cls"]]
    return df


def recorded(scale: str = "course") -> pd.DataFrame:
    """The kit's own recorded sweeps (every job's metrics, scale, device and seconds), shipped
    with the package as ``adlib/recorded/<scale>.csv``, so a fresh clone shows them without
    hours of training. How they were made: README, "The leave-one-out benchmark"."""
    path = _HERE / f"{scale}.csv"
    if not path.exists():
        have = sorted(p.stem for p in _HERE.glob("*.csv") if p.stem != "reference")
        raise FileNotFoundError(f"no recorded sweep at scale {scale!r}; recorded: {have}")
    df = pd.read_csv(path)
    df["cls"] = _classes(df["cls"])
    return df


def export(name: str, path, root=None) -> pd.DataFrame:
    """Write sweep ``name``'s tidy table to ``path`` (CSV, a few KB): how ``recorded()``'s
    files are made. A method whose leave-one-out run has fewer classes than the others on
    the same dataset (a sweep still in progress) is left out: part of the classes is no
    LOO mean."""
    df = table(name, root)
    loo = df[df.protocol == "loo"]
    n = loo.groupby(["dataset", "method"]).cls.nunique()
    partial = {k for k, v in n.items() if v < n[k[0]].max()}
    df = df[[(d, m) not in partial or p != "loo" for d, m, p in zip(df.dataset, df.method, df.protocol)]]
    keep = [c for c in df.columns if c in COLUMNS or c in ("anomalous", "n_train", "n_test")]
    df = df[keep + sorted(c for c in df.columns if c.startswith("covered_"))]  # same order in every export
    df.to_csv(path, index=False, float_format="%.6g")
    return df


def pivot(summary_df: pd.DataFrame, dataset: str, protocol: str = "loo") -> pd.DataFrame:
    """Methods as rows, classes as columns (mean over seeds), then "mean" and "sd" over
    classes: the paper-style leave-one-out table, best mean first."""
    s = summary_df[(summary_df.dataset == dataset) & (summary_df.protocol == protocol)]
    per = s[s.cls != "mean"].pivot(index="method", columns="cls", values="mean")
    overall = s[s.cls == "mean"].set_index("method")
    per["mean"], per["sd"] = overall["mean"], overall["sd"]
    return per.sort_values("mean", ascending=False)
