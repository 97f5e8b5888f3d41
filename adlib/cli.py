"""The ``adlib`` command (also ``python -m adlib``).

    adlib collect [--root DIR]   print every recorded metric under the runs root as a table
    adlib app 01 [-p NAME VALUE]... [--port 8866]
                                 serve a lab as an app with Voila on 127.0.0.1 (outputs and
                                 widgets only); -p overrides a parameter of the lab
"""
from __future__ import annotations

import argparse
import subprocess
import sys

from . import app, runs


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="adlib", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("collect", help="table of recorded metrics")
    c.add_argument("--root", help="runs root (default: $ADLIB_RUNS or <repo>/runs)")
    a = sub.add_parser("app", help="serve a lab with Voila on 127.0.0.1")
    a.add_argument("lab", help=f"lab number or name: {', '.join(app.labs())}")
    a.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                   help="set a parameter of the lab (a Python literal), e.g. -p steps 500")
    a.add_argument("--port", type=int, default=8866)
    args = p.parse_args(argv)
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
    if args.cmd == "collect":
        df = runs.collect(args.root)
        if df.empty:
            print(f"no metrics.json under {args.root or runs.root()}")
            return 1
        table = df.pivot_table(index=["run", "metric"], values="value", aggfunc="first")
        print(table.to_string(float_format=lambda v: f"{v:.4f}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
