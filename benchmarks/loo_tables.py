"""Markdown tables of a recorded sweep for the README: per method the AUROC per class, the
mean ± SD over classes, the papers' number, the class coverage of its generators and the
summed job seconds.

    .venv/bin/python benchmarks/loo_tables.py                 # the shipped course-scale sweeps
    .venv/bin/python benchmarks/loo_tables.py --sweep course  # a sweep under the runs root
    .venv/bin/python benchmarks/loo_tables.py --sweep course --export adlib/recorded/course.csv
"""
from __future__ import annotations

import argparse

from adlib import results


def paper(ref, method, dataset, protocol, anomalous=None):
    r = ref[(ref.method == method) & (ref.dataset == dataset) & (ref.protocol == protocol) & (ref.cls == "mean")]
    if anomalous:  # OOD: only the paper's number for the same anomalous dataset
        r = r[r.anomalous == anomalous]
    return "; ".join((f"{a:.3f}" if a == a else "–") + (f" ± {sd:.3f}" if sd == sd else "")
                     for a, sd in zip(r.auroc, r.sd))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sweep", help="a sweep under the runs root (default: the shipped course.csv)")
    p.add_argument("--export", help="write the sweep's tidy table to this CSV first")
    args = p.parse_args()
    if args.export:
        results.export(args.sweep, args.export)
    df = results.table(args.sweep) if args.sweep else results.recorded("course")
    s, ref = results.summary(df), results.reference()
    for (dataset, protocol), part in df.groupby(["dataset", "protocol"]):
        piv = results.pivot(s, dataset, protocol)
        classes = [c for c in piv.columns if c not in ("mean", "sd")]
        anomalous = part.anomalous.dropna().iloc[0] if part.anomalous.notna().any() else None
        cov = [c for c in df.columns if c.startswith("covered_")]
        secs = part.groupby("method").apply(
            lambda g: (g.train_seconds + g.test_seconds_per_1000 * g.n_test / 1000).sum(), include_groups=False)
        seeds = sorted(int(v) for v in part.seed.unique())
        print(f"\n{dataset} {protocol} ({part.scale.iloc[0]} scale, seeds {seeds}, "
              f"{len(part)} jobs, {secs.sum() / 60:.1f} min of fit + score)\n")
        head = ["method", *map(str, classes), "mean ± SD", "paper", "covers", "job min"]
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for m, row in piv.iterrows():
            covered = part[part.method == m][cov].mean().dropna()
            covers = " ".join(f"{c[8:]} {v:.1f}" for c, v in covered.items())
            cells = [m, *(f"{row[c]:.3f}" for c in classes), f"**{row['mean']:.3f}** ± {row['sd']:.3f}",
                     paper(ref, m, dataset, protocol, anomalous), covers, f"{secs[m] / 60:.1f}"]
            print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
