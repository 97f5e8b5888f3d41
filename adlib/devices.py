"""Where the kit computes: the one place that turns a ``device`` option into a ``torch.device``.

Every method and ``adlib.density.Flow`` take ``device``:

* ``"auto"`` (default): the first CUDA GPU when PyTorch sees one, else the CPU;
* ``"cpu"``, ``"cuda"`` (the current GPU) or ``"cuda:N"`` (GPU number N).

Anything else raises ``ValueError`` naming the value and what is allowed; so does a CUDA
device on a machine without one, before any work starts. During ``fit`` the networks, their
optimisers, the training tensor (moved once), latents and batches live on that device;
scores and other per-point outputs come back on the CPU, and saved files hold CPU tensors.

CPU threads. PyTorch uses one intra-op thread per core it counts, which in a container or a
job pinned to fewer cores than the machine has oversubscribes them. The first time a CPU
device is resolved, the thread count becomes ``$ADLIB_THREADS`` when set, else the smaller of
PyTorch's count and the cores this process may run on (``os.sched_getaffinity``). A sweep that
runs several workers on one machine sets ``ADLIB_THREADS`` per worker.
"""
from __future__ import annotations

import os
import re

import torch

ALLOWED = "'auto', 'cpu', 'cuda' or 'cuda:N' (N a GPU index)"
_PATTERN = re.compile(r"auto|cpu|cuda(:\d+)?")
_threads_set = False


def resolve(device="auto") -> torch.device:
    """The ``torch.device`` for a ``device`` option (see the module docstring)."""
    name = str(device) if isinstance(device, torch.device) else device
    if not isinstance(name, str) or not _PATTERN.fullmatch(name):
        raise ValueError(f"unknown device {device!r}; allowed: {ALLOWED}")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r}: PyTorch sees no CUDA GPU on this machine "
                             f"(torch {torch.__version__}); use 'cpu' or 'auto'")
        index = int(name.split(":")[1]) if ":" in name else torch.cuda.current_device()
        if index >= torch.cuda.device_count():
            raise ValueError(f"device {device!r}: this machine has {torch.cuda.device_count()} "
                             f"CUDA GPU(s), numbered from 0")
        return torch.device("cuda", index)
    set_threads()
    return torch.device("cpu")


def cores() -> int:
    """The CPU cores this process may use (its affinity mask where the OS has one)."""
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return n or 1


def set_threads(n: int | None = None) -> int:
    """Set PyTorch's CPU thread count: ``n``, else ``$ADLIB_THREADS``, else at most the cores
    this process may use. Without ``n`` it acts once per process (the user's own
    ``torch.set_num_threads`` afterwards wins). Returns the count in force."""
    global _threads_set
    if n is None and _threads_set:
        return torch.get_num_threads()
    if n is None:
        env = os.environ.get("ADLIB_THREADS")
        if env:
            if not env.isdigit() or int(env) < 1:
                raise ValueError(f"ADLIB_THREADS must be a positive int, got {env!r}")
            n = int(env)
        else:
            n = min(torch.get_num_threads(), cores())
    elif not isinstance(n, int) or n < 1:
        raise ValueError(f"threads must be a positive int, got {n!r}")
    _threads_set = True
    if n != torch.get_num_threads():
        torch.set_num_threads(n)
    return n


def default() -> str:
    """``"cuda"`` when a GPU is usable, else ``"cpu"``: what ``"auto"`` picks."""
    return resolve("auto").type
