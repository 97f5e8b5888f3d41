"""The ``adlib`` command (also ``python -m adlib``).

    adlib collect [--root DIR]   print every recorded metric under the runs root as a table
"""
from __future__ import annotations

import argparse
import sys

from . import runs


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="adlib", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("collect", help="table of recorded metrics")
    c.add_argument("--root", help="runs root (default: $ADLIB_RUNS or <repo>/runs)")
    args = p.parse_args(argv)
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
