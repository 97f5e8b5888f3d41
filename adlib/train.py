"""The one training loop every method uses.

A method supplies ``step(i) -> {term: value}`` that does one optimisation step (its own
forward, backward and optimiser updates, however many networks it has) and returns the loss
terms it wants logged. ``run`` adds what every method needs and nobody should write twice:

* seeding (``seed``), so the same seed gives the same numbers on the same machine,
* a ``tqdm.auto`` progress bar showing the loss terms,
* a NaN / inf guard that stops with an error naming the term and the step,
* no device sync per step: the loss terms stay tensors (on the device) and are read back
  together every ``log_every`` steps (10), when the bar shows them; the NaN guard checks
  them then, so it stops at most ``log_every - 1`` steps late, naming the first bad step,
* a per-term loss history,
* a checkpoint every ``every`` steps (modules, optimisers, history, RNG state) and resume:
  a run that finds its checkpoint continues where it stopped and ends with the same numbers
  as a run that was never interrupted,
* a watch hook: ``callback(progress)`` every ``callback_every`` steps (or every callback set
  by ``with watch(fn, every=k):`` around any ``fit``), what the labs' live explorers draw
  from. The callback sees the history so far and the networks (``Progress``); it cannot
  change the run (the RNG state and every network's train / eval mode are restored after
  it), and returning True stops the run: the history is complete up to that step, a
  checkpoint is saved there, and ``Stopped`` is raised so that a multi-stage fit ends too.
"""
from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import math
import os
import random
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from tqdm.auto import tqdm


class NonFiniteLoss(FloatingPointError):
    """A loss term became NaN or infinite."""


@dataclasses.dataclass
class Progress:
    """What a watch callback sees: ``step`` steps done of ``steps`` in the part ``desc``,
    the loss ``history`` so far (complete up to ``step``), the run's ``state`` (networks,
    optimisers), the object that runs it (``owner``, e.g. the detector; may be None) and
    the seconds since this part started."""
    step: int
    steps: int
    desc: str
    history: dict
    state: dict
    owner: Any
    seconds: float


class Stopped(Exception):
    """A watch callback asked the run to stop; ``progress`` says where it stopped."""

    def __init__(self, progress: Progress):
        super().__init__(f"{progress.desc}: stopped at step {progress.step} of {progress.steps}")
        self.progress = progress


_WATCH: contextvars.ContextVar = contextvars.ContextVar("adlib_watch", default=None)


@contextlib.contextmanager
def watch(callback: Callable[[Progress], bool | None], every: int = 10):
    """Call ``callback(progress)`` every ``every`` steps of every ``run`` inside the block
    (in this thread only), e.g. around ``det.fit(x)``; a True return stops the run."""
    if every < 1:
        raise ValueError(f"every must be >= 1, got {every}")
    token = _WATCH.set((callback, every))
    try:
        yield
    finally:
        _WATCH.reset(token)


def seed_everything(value: int) -> int:
    """Seed Python, NumPy and torch (all devices). Returns the seed."""
    if not isinstance(value, int) or value < 0:
        raise ValueError(f"seed must be a non-negative int, got {value!r}")
    random.seed(value)
    np.random.seed(value % 2**32)
    torch.manual_seed(value)
    return value


seed = seed_everything  # adlib.seed(0)


def _rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(),
             "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def update(opt: torch.optim.Optimizer, loss: torch.Tensor) -> torch.Tensor:
    """One gradient step of ``opt`` on ``loss`` (zero the gradients, backpropagate, step);
    returns the loss, for the history."""
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss


def run(step: Callable[[int], dict], steps: int, *, state: dict | None = None,
        seed: int | None = 0, checkpoint: str | os.PathLike | None = None,
        every: int = 500, desc: str = "train", progress: bool = True,
        history: dict | None = None, meta: dict | None = None,
        log_every: int = 10, callback: Callable[[Progress], bool | None] | None = None,
        callback_every: int = 10, owner: Any = None) -> dict[str, list[float]]:
    """Call ``step(i)`` for i = start .. steps-1 and return the loss history.

    state:      objects with ``state_dict`` / ``load_state_dict`` (networks, optimisers)
                saved in the checkpoint and restored on resume.
    seed:       seeds everything before the first step (None leaves the RNG alone).
    checkpoint: file to save every ``every`` steps and at the end; if it exists, training
                resumes from it (a finished run returns at once with its history).
    history:    a history to append to (e.g. from an earlier stage); a new one otherwise.
    meta:       settings the checkpoint must match to be resumed (e.g. the loss weights);
                a checkpoint made with other settings raises instead of being reused.
    log_every:  read the loss terms back (one sync), check them and update the bar every
                this many steps.
    callback:   ``callback(Progress)`` every ``callback_every`` steps and after the last
                (default: the one set by ``watch``, if any); True stops the run (``Stopped``).
    owner:      passed to the callback as ``Progress.owner`` (a detector passes itself).
    """
    if steps < 0 or every < 1 or log_every < 1 or callback_every < 1:
        raise ValueError(f"steps must be >= 0, every, log_every and callback_every >= 1, got "
                         f"steps={steps}, every={every}, log_every={log_every}, "
                         f"callback_every={callback_every}")
    if callback is None and _WATCH.get() is not None:
        callback, callback_every = _WATCH.get()
    state = state or {}
    hist: dict[str, list[float]] = history if history is not None else {}
    start = 0
    if seed is not None:
        seed_everything(seed)
    ckpt = Path(checkpoint) if checkpoint else None
    if ckpt and ckpt.exists():
        saved = torch.load(ckpt, map_location="cpu", weights_only=False)
        if meta is not None and saved.get("meta") != meta:
            raise ValueError(f"checkpoint {ckpt} was made with other settings "
                             f"({saved.get('meta')}) than this run ({meta}); "
                             "use another checkpoint path or delete it")
        for name, obj in state.items():
            obj.load_state_dict(saved["state"][name])
        hist.clear()
        hist.update(saved["history"])
        _set_rng_state(saved["rng"])
        start = saved["step"]

    def save(done: int) -> None:
        if ckpt is None:
            return
        ckpt.parent.mkdir(parents=True, exist_ok=True)
        tmp = ckpt.with_suffix(ckpt.suffix + ".tmp")
        torch.save({"step": done, "state": {k: v.state_dict() for k, v in state.items()},
                    "history": hist, "rng": _rng_state(), "meta": meta}, tmp)
        os.replace(tmp, ckpt)  # atomic: a crash never leaves half a checkpoint

    pending: list[tuple[int, dict]] = []  # steps whose terms are not read back yet

    def flush() -> None:
        """Read the pending terms back in one sync, check them, append them to the history."""
        tensors = [v for _, terms in pending for v in terms.values() if torch.is_tensor(v)]
        read = iter(torch.stack(tensors).tolist() if tensors else [])
        for i, terms in pending:
            for name, value in terms.items():
                v = next(read) if torch.is_tensor(value) else float(value)
                if not math.isfinite(v):
                    bar.close()
                    raise NonFiniteLoss(f"{desc}: loss term {name!r} is {v} at step {i}; "
                                        "lower the learning rate or check the weights")
                hist.setdefault(name, []).append(v)
        if pending:
            bar.set_postfix({k: f"{hist[k][-1]:.4g}" for k in pending[-1][1]}, refresh=False)
        pending.clear()

    started = time.perf_counter()

    def watched(done: int) -> None:
        """Call the callback after ``done`` steps without letting it change the run."""
        flush()
        progress = Progress(done, steps, desc, hist, state, owner, time.perf_counter() - started)
        nets = [m for m in [*state.values(), *getattr(owner, "_modules", dict)().values()]
                if isinstance(m, torch.nn.Module)]
        rng, modes = _rng_state(), [(m, m.training) for m in nets]
        try:
            stop = callback(progress)
        finally:
            _set_rng_state(rng)
            for m, mode in modes:
                m.train(mode)
        if stop:
            bar.close()
            save(done)
            raise Stopped(progress)

    # leave=True: a finished bar stays (with the fit's time). A closed notebook bar would
    # leave "Error displaying widget: model not found" in Voila and in saved notebooks.
    bar = tqdm(range(start, steps), desc=desc, disable=not progress, initial=start,
               total=steps, leave=True)
    for i in bar:
        terms = step(i)
        pending.append((i, {k: v.detach().float().reshape(()) if torch.is_tensor(v) else v
                            for k, v in terms.items()}))
        if (i + 1) % log_every == 0 or i == steps - 1:
            flush()
        if (i + 1) % every == 0 and i + 1 < steps:
            flush()
            save(i + 1)
        if callback is not None and ((i + 1) % callback_every == 0 or i == steps - 1):
            watched(i + 1)
    bar.close()
    if start < steps or (ckpt and not ckpt.exists()):
        save(steps)
    return hist
