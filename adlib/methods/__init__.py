"""Every detector behind one interface.

    det = adlib.methods.make("bdsg", density=adlib.data.toy("bimodal"), seed=0)
    det.fit(x_normal)          # normal data only: tensor, Split or Dataset
    s = det.score(x_test)      # 1-D tensor, higher = more anomalous
    det.save("bdsg.pt"); det = adlib.methods.load("bdsg.pt")

Each method's equations (with the papers' numbering), defaults and departures from the
papers, with their reasons and citations: ``docs/methods.md`` in the repository.
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import torch

from . import anogan, bdsg, egbad, ganomaly, historyad, knn, omasgan, tailgan, vae  # noqa: F401  (registers the methods)
from .base import REGISTRY, RUN_ONLY, Detector, as_tensor, describe, read_saved

__all__ = ["make", "available", "load", "fit_score", "Detector", "as_tensor"]


def available() -> list[str]:
    """Names accepted by ``make``."""
    return sorted(REGISTRY)


def make(name: str, **config) -> Detector:
    """A detector by name with its config (unknown names or options raise ``ValueError``)."""
    if name not in REGISTRY:
        raise ValueError(f"unknown method {name!r}; available: {available()}")
    return REGISTRY[name](**config)


def load(path, device=None) -> Detector:
    """Rebuild a detector saved with ``det.save(path)`` on ``device`` (None: "auto"; the
    file itself is device-free). A damaged or foreign file raises ``ValueError`` naming it."""
    saved = read_saved(path)
    if saved["method"] not in REGISTRY:
        raise ValueError(f"{path} holds method {saved['method']!r}, unknown here; available: {available()}")
    det = make(saved["method"], **{**saved["config"], "device": device or "auto"})
    det._load_extra_state(saved["extra"])
    for k, m in det._modules().items():
        m.load_state_dict(saved["modules"][k])
    det.history, det.fitted = saved["history"], saved["fitted"]
    return det


def fit_score(det: Detector, train, test_x, where=None) -> dict:
    """Fit ``det`` on the normal data ``train``, score ``test_x`` and time both (wall-clock
    seconds on this machine). Returns {"det", "scores", "train_seconds",
    "test_seconds_per_1000"}.

    With ``where`` (a folder, e.g. under ``adlib.runs.run_dir``) the fitted detector and the
    result are saved there (``detector.pt``, ``result.pt``), and a later call loads them
    instead of training and scoring again, with the times of the run that made them. A
    folder holding another method, config or test-set size raises instead of being reused.
    A fit that resumes from its checkpoint (``checkpoint=`` in the config) times only the
    resumed part.
    """
    test_x = as_tensor(test_x)
    path = Path(where) / "result.pt" if where is not None else None
    config = describe({f.name: getattr(det.config, f.name) for f in dataclasses.fields(det.config)
                       if f.name not in RUN_ONLY})
    if path is not None and path.exists():
        saved = torch.load(path, map_location="cpu", weights_only=False)
        mine = {"method": det.name, "config": config, "n_test": len(test_x)}
        theirs = {"method": saved["method"], "n_test": saved["n_test"],
                  "config": describe({k: v for k, v in saved["config"].items() if k not in RUN_ONLY})}
        if theirs != mine:
            raise ValueError(f"{path} holds another run ({theirs}), not {mine}; "
                             "use another folder or delete it")
        return {"det": load(path.parent / "detector.pt", device=det.config.device), "scores": saved["scores"],
                "train_seconds": saved["train_seconds"],
                "test_seconds_per_1000": saved["test_seconds_per_1000"]}
    start = time.perf_counter()
    det.fit(train)
    train_seconds = time.perf_counter() - start
    start = time.perf_counter()
    scores = det.score(test_x)
    per_1000 = (time.perf_counter() - start) / len(test_x) * 1000
    out = {"det": det, "scores": scores, "train_seconds": train_seconds,
           "test_seconds_per_1000": per_1000}
    if path is not None:
        det.save(path.parent / "detector.pt")
        torch.save({"method": det.name, "config": config, "n_test": len(test_x),
                    **{k: v for k, v in out.items() if k != "det"}}, path)
    return out
