"""The ``adlib`` command (also ``python -m adlib``).

    adlib collect [--root DIR]   print every recorded metric under the runs root as a table
    adlib summary [--root DIR] [--html DIR]
                                 each lab's headline numbers in one screen (what `make run` ends with)
    adlib sweep --name NAME --dataset mnist --protocol loo --methods knn vae ... --classes 0-9
                --seeds 0 1 2 --scale course [--workers N | --scheduler ADDRESS | --serial]
                                 every method x class x seed as one job each (adlib.sweep)
    adlib sweep --name NAME --notebook notebooks/03_omasgan.ipynb -p mnist_digit 0-9 -p seed 0,1
                                 a lab rerun by papermill over a grid of its parameters
    adlib app 01 [-p NAME VALUE]... [--port 8866]
                                 serve a lab as an app with Voila on 127.0.0.1 (outputs and
                                 widgets only); -p overrides a parameter of the lab
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from . import app, runs

SWEEP_EXAMPLE = """examples:
  adlib sweep --name loo --dataset mnist --protocol loo --methods knn vae omasgan --classes 0-9 --seeds 0 --scale course
  adlib sweep --name ood --dataset mnist --protocol ood --anomalous fashion_mnist --methods knn vae --scale course
  adlib sweep --name lab03 --notebook notebooks/03_omasgan.ipynb -p mnist_digit 0-9 -p seed 0,1
  adlib sweep ... --scheduler tcp://HOST:8786   (an existing Dask cluster, e.g. dask-jobqueue on Slurm)
"""


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="adlib", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("collect", help="table of recorded metrics")
    c.add_argument("--root", help="runs root (default: $ADLIB_RUNS or <repo>/runs)")
    m = sub.add_parser("summary", help="each lab's headline numbers, one line per lab")
    m.add_argument("--root", help="runs root (default: $ADLIB_RUNS or <repo>/runs)")
    m.add_argument("--html", help="folder of the executed labs rendered to HTML, listed at the end")
    a = sub.add_parser("app", help="serve a lab with Voila on 127.0.0.1")
    a.add_argument("lab", help=f"lab number or name: {', '.join(app.labs())}")
    a.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                   help="set a parameter of the lab (a Python literal), e.g. -p steps 500")
    a.add_argument("--port", type=int, default=8866)
    _sweep_parser(sub)
    args = p.parse_args(argv)
    if args.cmd == "sweep":
        return _sweep(args, p)
    if args.cmd == "app":
        try:
            nb = app.lab(args.lab)
            if args.parameter:
                nb = app.with_parameters(args.lab, {k: app.parse_value(v) for k, v in args.parameter})
        except ValueError as err:
            p.error(str(err))
        print(f"serving {nb} on http://127.0.0.1:{args.port}/ (Ctrl-C stops it)", flush=True)
        try:
            return subprocess.call(app.voila_command(nb, args.port))
        except KeyboardInterrupt:
            return 0
    if args.cmd == "summary":
        print(f"What the labs measured (runs root {args.root or runs.root()}):")
        for line in runs.headlines(args.root):
            print(f"  {line}")
        pages = sorted(Path(args.html).glob("*.html")) if args.html else []
        if pages:
            print("The executed labs, to open in any browser:")
            for page in pages:
                print(f"  {page.resolve()}")
        print("Every recorded number: adlib collect" + (f" --root {args.root}" if args.root else ""))
        return 0
    if args.cmd == "collect":
        df = runs.collect(args.root)
        if df.empty:
            print(f"no metrics.json under {args.root or runs.root()}")
            return 1
        table = df.pivot_table(index=["run", "metric"], values="value", aggfunc="first")
        print(table.to_string(float_format=lambda v: f"{v:.4f}"))
    return 0


def _sweep_parser(sub) -> None:
    s = sub.add_parser("sweep", help="every method x class x seed (or a lab's parameter grid) as jobs on Dask",
                       epilog=SWEEP_EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("--name", required=True, help="the sweep's folder under <runs root>/sweeps/")
    s.add_argument("--dataset", help="mnist, fashion_mnist, kmnist, cifar10, cifar100, svhn")
    s.add_argument("--protocol", default="loo", help="loo (default), one_class or ood")
    s.add_argument("--anomalous", help="the anomalous dataset of --protocol ood")
    s.add_argument("--methods", nargs="+", help="e.g. knn vae bdsg tailgan omasgan historyad anogan egbad ganomaly")
    s.add_argument("--classes", nargs="+", default=["0-9"], help="e.g. 0-9, 0,3,5 or 1 7 (default 0-9)")
    s.add_argument("--seeds", nargs="+", type=int, default=[0])
    s.add_argument("--scale", default="course", help="quick, course (default) or paper")
    s.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    s.add_argument("--notebook", help="rerun this lab with papermill over the -p grid instead")
    s.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUES"),
                   help="with --notebook: a parameter and its values (0-9, 0,1 or one value)")
    s.add_argument("--root", help="runs root (default: $ADLIB_RUNS or <repo>/runs)")
    how = s.add_mutually_exclusive_group()
    how.add_argument("--workers", type=int, help="workers of the embedded LocalCluster (default: one per "
                     "GPU, else one per two CPU cores)")
    how.add_argument("--scheduler", help="address of an existing Dask scheduler, e.g. tcp://HOST:8786")
    how.add_argument("--serial", action="store_true", help="run the jobs in this process (debugging)")


def _sweep(args, p) -> int:
    from . import sweep

    try:
        if args.workers is not None and args.workers < 1:
            raise ValueError(f"--workers must be at least 1, got {args.workers}")
        if args.notebook:
            params = {k: sweep.parse_values(v) for k, v in args.parameter}
            jobs = sweep.notebook_jobs(args.name, args.notebook, params)
        else:
            if args.parameter:
                raise ValueError("-p sets a notebook's parameters: use it with --notebook")
            if not args.dataset or not args.methods:
                raise ValueError("a sweep needs --dataset and --methods (or --notebook)")
            jobs = sweep.plan(args.name, args.dataset, args.methods, protocol=args.protocol,
                              classes=args.classes, seeds=args.seeds, scale=args.scale,
                              anomalous=args.anomalous, device=args.device)
    except ValueError as err:
        p.error(str(err))
    start = time.perf_counter()
    records = sweep.run(jobs, root=args.root, workers=args.workers, scheduler=args.scheduler,
                        serial=args.serial)
    code = sweep.report(records, jobs)
    print(f"sweep {args.name!r}: {len(jobs)} jobs in {time.perf_counter() - start:.0f} s")
    return code


if __name__ == "__main__":
    sys.exit(main())
