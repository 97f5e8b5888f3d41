"""Run labs at full scale and record what they measured into the package.

    .venv/bin/python benchmarks/full_labs.py --labs 03 05           # run, then record
    .venv/bin/python benchmarks/full_labs.py --labs 03 --record-only  # record a finished run

Each lab runs headless with papermill at its full-scale defaults (no ``ADLIB_QUICK``) and
``seed`` 0, into the runs root ``runs/full`` (``--root``): executed notebooks under
``notebooks/``, each lab's ``metrics.json`` where the lab records it. Long trainings there
resume from their checkpoints. The lab's recorded metrics are then copied into
``adlib/recorded/labs.json`` with how they were made (command, commit, date, wall time), and
the labs show them beside a student's own run (``adlib.runs.versus``). A lab whose run did not
finish is not recorded; an earlier record of it stays until a finished run replaces it.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from adlib import runs  # noqa: E402


def notebook(lab: str) -> Path:
    found = sorted((REPO / "notebooks").glob(f"{lab}_*.ipynb"))
    if not found:
        have = sorted(p.name[:2] for p in (REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
        raise SystemExit(f"no lab {lab!r}; the labs are {have}")
    return found[0]


def commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "notebooks", "adlib"], cwd=REPO,
                           capture_output=True, text=True).stdout.strip()
    return out.stdout.strip() + ("+changes" if dirty else "")


def run_lab(lab: str, root: Path, seed: int) -> float:
    nb = notebook(lab)
    (root / "notebooks").mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "ADLIB_QUICK"}
    env["ADLIB_RUNS"] = str(root)
    cmd = [sys.executable, "-m", "papermill", str(nb), str(root / "notebooks" / nb.name),
           "--cwd", str(REPO / "notebooks"), "-p", "seed", str(seed), "--execution-timeout", "36000"]
    print(f"== lab {lab}: {' '.join(cmd[1:])}", flush=True)
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True)
    return time.perf_counter() - start


def record(lab: str, root: Path, seed: int, wall: float | None, target: Path) -> None:
    path = root / f"lab{lab}" / "metrics.json"
    if not path.exists():
        raise SystemExit(f"lab {lab} has no finished run under {root} ({path} is missing)")
    values = json.loads(path.read_text())
    meta = values.pop("_meta", {})
    if meta.get("quick"):
        raise SystemExit(f"{path} is a quick run (ADLIB_QUICK=1): only full-scale runs are recorded")
    book = json.loads(target.read_text()) if target.exists() else {}
    book[f"lab{lab}"] = {
        "metrics": {k: v for k, v in values.items() if k != "config"},
        "config": values.get("config", {}),
        "seed": seed,
        "finished": meta.get("time"),
        "wall_seconds": None if wall is None else round(wall, 1),
        "commit": commit(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores"
                   + (f", {os.environ['ADLIB_MACHINE']}" if os.environ.get("ADLIB_MACHINE") else ""),
        "command": f"benchmarks/full_labs.py --labs {lab} --seed {seed}",
    }
    target.write_text(json.dumps(dict(sorted(book.items())), indent=1) + "\n")
    print(f"recorded lab {lab} into {target}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--labs", nargs="+", required=True, help="lab numbers, e.g. 03 05")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--root", type=Path, default=REPO / "runs" / "full", help="runs root of the full runs")
    ap.add_argument("--record-only", action="store_true", help="record finished runs without running them")
    ap.add_argument("--target", type=Path, default=runs.KIT_RUNS, help="where the records go")
    args = ap.parse_args()
    labs = [f"{int(lab):02d}" for lab in args.labs]
    for lab in labs:
        notebook(lab)  # every name checked before any work starts
    for lab in labs:
        wall = None if args.record_only else run_lab(lab, args.root, args.seed)
        record(lab, args.root, args.seed, wall, args.target)
        print(f"lab {lab}: {wall and f'{wall / 60:.1f} min'} at {dt.datetime.now():%H:%M}", flush=True)


if __name__ == "__main__":
    main()
