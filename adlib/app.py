"""A lab as an app: Voila runs the notebook and shows only its outputs and widgets.

``make app NB=01`` (or ``adlib app 01``) serves lab 01 on http://127.0.0.1:8866. The page
runs the whole lab first, at its full defaults unless ``ADLIB_QUICK=1`` is set or
parameters are given (``adlib app 01 -p steps 500``); outputs appear cell by cell.

With parameters, a copy of the lab with papermill's injected-parameters cell is written
under ``<runs root>/app/`` and served instead of the lab itself, so notebooks/ stays clean.
The browser tests (tests/browser/) use the same two functions.
"""
from __future__ import annotations

import ast
import os
import sys
from pathlib import Path

from . import runs

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def labs() -> list[str]:
    """The lab notebooks' names, in teaching order."""
    return sorted(p.stem for p in NOTEBOOKS.glob("[0-9]*.ipynb"))


def lab(name: str) -> Path:
    """The notebook of lab ``name``: its number ("01" or "1"), its full name, or a path."""
    if name.endswith(".ipynb") and Path(name).exists():
        return Path(name).resolve()
    key = name.zfill(2) if name.isdigit() else name
    hits = [s for s in labs() if s == key or s.startswith(key + "_")]
    if len(hits) != 1:
        raise ValueError(f"unknown lab {name!r}; the labs are {', '.join(labs())} "
                         "(give the number, e.g. 01, or the name)")
    return NOTEBOOKS / f"{hits[0]}.ipynb"


def with_parameters(name: str, parameters: dict, where: Path | None = None) -> Path:
    """A copy of lab ``name`` with ``parameters`` injected after its ``parameters`` cell
    (papermill's ``parameterize_notebook``), written to ``where`` (default
    ``<runs root>/app/``). Unknown names raise, listing the lab's parameters."""
    import nbformat
    import papermill
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    src = lab(name)
    known = set(papermill.inspect_notebook(str(src)))
    unknown = sorted(set(parameters) - known)
    if unknown:
        raise ValueError(f"{src.stem} has no parameter {', '.join(map(repr, unknown))}; "
                         f"its parameters are {', '.join(sorted(known))}")
    nb = parameterize_notebook(load_notebook_node(str(src)), parameters)
    where = Path(where) if where else runs.run_dir("app")
    where.mkdir(parents=True, exist_ok=True)
    out = where / src.name
    nbformat.write(nb, out)
    return out


TEMPLATES = Path(__file__).resolve().parent / "jupyter"  # a Jupyter data dir holding voila/templates/adlib


def voila_command(notebook: Path, port: int = 8866, connection_dir: Path | None = None) -> list[str]:
    """The command that serves ``notebook`` with Voila on 127.0.0.1:``port``: progressive
    rendering (outputs appear as cells finish), Python tracebacks shown on the page, and the
    kit's template, which loads nothing from outside 127.0.0.1.

    Websocket pings are off (``ws_ping_interval`` 0). With progressive rendering Voila runs
    the whole notebook inside one websocket message handler, and tornado reads no further
    frames (the browser's pongs included) until that handler returns; Jupyter Server's ping
    check then closes the page's execution socket 90 s after the first ping, and every
    output after that point never reaches the page. A lab that runs longer than 90 s (all of
    them at full scale, most in quick mode on 2 cores) would stall half-drawn. The server
    listens on 127.0.0.1 only, where no proxy needs keep-alive pings."""
    connection_dir = Path(connection_dir) if connection_dir else runs.run_dir("app/connections")
    connection_dir.mkdir(parents=True, exist_ok=True)
    # the kit's template (adlib/jupyter/voila/templates/adlib) is Voila's lab template without
    # its CDN stylesheets: JUPYTER_PATH makes Voila find it
    paths = os.pathsep.join(p for p in (str(TEMPLATES), os.environ.get("JUPYTER_PATH", "")) if p)
    return ["env", f"JUPYTER_PATH={paths}", sys.executable, "-m", "voila", str(notebook), "--no-browser",
            f"--port={port}", "--Voila.ip=127.0.0.1", f"--Voila.connection_dir_root={connection_dir}",
            "--template=adlib", "--show_tracebacks=True", "--progressive_rendering=True",
            '--Voila.tornado_settings={"ws_ping_interval": 0}']


def parse_value(text: str):
    """A ``-p`` value on the command line: a Python literal (500, 1e-3, [1, 2]) or a string."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text
