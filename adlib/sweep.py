"""Sweeps: every method over classes and seeds, one job per (method, class, seed).

    adlib sweep --name loo --dataset mnist --protocol loo --methods knn vae omasgan \\
                --classes 0-9 --seeds 0 1 2 --scale course [--workers N | --scheduler ADDR | --serial]

One job = split -> make -> fit -> score on the full test split -> record. Each job writes

    <runs root>/sweeps/<name>/<dataset>-<protocol>/<method>/class<k>/seed<s>/metrics.json

(``<dataset>-ood-<anomalous>`` and ``classall`` for the OOD protocol) with AUROC, AUPRC,
F1, seconds, device, scale, the resolved config and the package versions, and
``scores.pt`` (the test scores, for ROC curves later). A finished job is skipped on a
rerun; an interrupted one resumes from its checkpoint (``ckpt*.pt`` in its folder, deleted
once the job is recorded). A job that raises writes ``failed.json`` with its error and is
run again by the next sweep; it is never recorded as finished.

Jobs run on Dask (``dask.distributed``): by default an embedded ``LocalCluster`` on
127.0.0.1 (one worker per GPU when there are GPUs, else one per two CPU cores), or an
existing cluster (``scheduler="tcp://host:8786"``), or in this process (``serial=True``).
A job whose worker dies is rescheduled by Dask on another worker.

``preset(method, dataset, scale)`` is the one table of sizes: ``"quick"`` (CI: seconds per
job), ``"course"`` (a 2-core CPU: the whole MNIST leave-one-out sweep of every method in
well under an hour) and ``"paper"`` (the papers' schedules, for a GPU). ``notebook_jobs``
reruns a lab with papermill over a grid of its parameters, each run in its own process.
"""
from __future__ import annotations

import datetime as _dt
import itertools
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from pathlib import Path

SCALES = ("quick", "course", "paper")
PROTOCOLS = ("loo", "one_class", "ood")
KINDS = {"mnist": "grey", "fashion_mnist": "grey", "kmnist": "grey",
         "cifar10": "colour", "cifar100": "colour", "svhn": "colour"}
GREY_N = 54_000  # about the normal training images of one MNIST leave-one-out split

# ---------------------------------------------------------------------------- the presets
# PRESETS[method][kind][scale] = (make() options, max_train: a seeded subset of the normal
# training images, None = all of them). "course" is sized on this kit's 2-core CPU from
# measured per-job times (README, "The leave-one-out benchmark"); "paper" follows the
# papers' schedules where they give one and the methods' full defaults otherwise
# (``NOTES`` says which).
_FLOW = lambda steps: {"steps": steps, "batch": 256}  # noqa: E731

PRESETS = {
    "knn": {
        "grey": {"quick": ({}, 2000), "course": ({}, None), "paper": ({}, None)},
        "colour": {"quick": ({}, 2000), "course": ({}, None), "paper": ({}, None)},
    },
    "vae": {
        "grey": {"quick": ({"steps": 40}, 2000), "course": ({"steps": 400}, None),
                 "paper": ({"steps": 20_000}, None)},
        "colour": {"quick": ({"steps": 40}, 2000), "course": ({"steps": 150}, None),
                   "paper": ({"steps": 20_000}, None)},
    },
    "bdsg": {
        "grey": {"quick": ({"density": "flow", "flow": _FLOW(20), "steps": 10}, 2000),
                 "course": ({"density": "flow", "flow": _FLOW(80), "steps": 50}, None),
                 "paper": ({"density": "flow", "flow": _FLOW(10_000), "steps": 8000}, None)},
        "colour": {"quick": ({"density": "flow", "flow": _FLOW(20), "steps": 10}, 2000),
                   "course": ({"density": "flow", "flow": _FLOW(30), "steps": 15}, None),
                   "paper": ({"density": "flow", "flow": _FLOW(10_000), "steps": 8000}, None)},
    },
    "tailgan": {
        "grey": {"quick": ({"flow": _FLOW(20), "steps": 10}, 2000),
                 "course": ({"flow": _FLOW(80), "steps": 30}, None),
                 "paper": ({"flow": _FLOW(10_000), "steps": 3000}, None)},
        "colour": {"quick": ({"flow": _FLOW(20), "steps": 10}, 2000),
                   "course": ({"flow": _FLOW(30), "steps": 10}, None),
                   "paper": ({"flow": _FLOW(10_000), "steps": 3000}, None)},
    },
    "omasgan": {
        "grey": {"quick": ({"steps": (10, 4, 4, 4), "N": 32, "Q": 64}, 2000),
                 "course": ({"steps": (15, 5, 5, 5), "N": 64, "Q": 256}, None),
                 "paper": ({"steps": (105_000, 10_000, 10_000, 10_000)}, None)},
        "colour": {"quick": ({"steps": (10, 4, 4, 4), "N": 32, "Q": 64}, 2000),
                   "course": ({"steps": (6, 2, 2, 2), "N": 64, "Q": 256}, None),
                   "paper": ({"steps": (18_000, 5000, 5000, 5000)}, None)},
    },
    "historyad": {
        "grey": {"quick": ({"epochs": 1, "alpha": 0.0, "saves_per_epoch": 2, "tv_steps": 10}, 500),
                 "course": ({"epochs": 1, "alpha": 0.0, "saves_per_epoch": 5, "tv_steps": 60}, 1000),
                 "paper": ({"epochs": 5, "saves_per_epoch": 50, "tv_steps": 4000}, None)},
        "colour": {"quick": ({"epochs": 1, "alpha": 0.0, "saves_per_epoch": 2, "tv_steps": 10}, 500),
                   "course": ({"epochs": 1, "alpha": 0.0, "saves_per_epoch": 4, "tv_steps": 30}, 500),
                   "paper": ({"epochs": 10, "saves_per_epoch": 50, "tv_steps": 4000}, None)},
    },
    "anogan": {
        "grey": {"quick": ({"steps": 20, "search_steps": 2}, 2000),
                 "course": ({"steps": 80, "search_steps": 2}, None),
                 "paper": ({"steps": 3000, "search_steps": 500}, None)},
        "colour": {"quick": ({"steps": 20, "search_steps": 2}, 2000),
                   "course": ({"steps": 30, "search_steps": 1}, None),
                   "paper": ({"steps": 3000, "search_steps": 500}, None)},
    },
    "egbad": {
        "grey": {"quick": ({"steps": 20}, 2000), "course": ({"steps": 30}, None),
                 "paper": ({"steps": 3000}, None)},
        "colour": {"quick": ({"steps": 20}, 2000), "course": ({"steps": 10}, None),
                   "paper": ({"steps": 3000}, None)},
    },
    "ganomaly": {
        "grey": {"quick": ({"steps": 20}, 2000), "course": ({"steps": 50}, None),
                 "paper": ({"steps": 3000}, None)},
        "colour": {"quick": ({"steps": 20}, 2000), "course": ({"steps": 15}, None),
                   "paper": ({"steps": 3000}, None)},
    },
}

NOTES = {
    "knn": "k = 5 in pixel space on every normal training image (quick: 2000 of them)",
    "vae": "2-D latent; course: 400 / 150 Adam steps of batch 128 (MNIST / CIFAR-10, under one epoch); "
           "paper: the reference gives no schedule, 20k steps",
    "bdsg": "RealNVP flow for p_g (the paper: a residual flow); course: 80 / 30 flow steps of batch 256 "
            "and 50 / 15 B steps (MNIST / CIFAR-10); paper: trained to convergence, here 10k flow and 8k B steps",
    "tailgan": "RealNVP flow, T started as the flow's sampler; course: 80 / 30 flow steps, 30 / 10 T steps",
    "omasgan": "KLWGAN; paper: 500 epochs of Task 1 at N = 256 (105k steps on MNIST), no step counts "
               "for Tasks 2, 3 and J (10k each here); course: (15, 5, 5, 5) steps at N = 64, Q = 256 "
               "on MNIST, (6, 2, 2, 2) on CIFAR-10",
    "historyad": "WGAN-GP history; paper: 5 epochs, 50 saves per epoch, α = 1; course: 1 epoch (α = 0: no "
                 "epoch to skip) of a seeded subset (1000 MNIST / 500 CIFAR-10 images), 5 / 4 saves, "
                 "60 / 30 D_TV steps",
    "anogan": "DCGAN + latent search; paper: Γ = 500 search steps; course: 80 / 30 GAN steps and "
              "Γ = 2 / 1 (the search costs Γ forward-backward passes per test image)",
    "egbad": "BiGAN; course: 30 / 10 steps of batch 64; paper (the survey's): 3000 steps here",
    "ganomaly": "course: 50 / 15 steps of batch 64; paper (the survey's): 3000 steps here",
}


def kind(dataset: str) -> str:
    """"grey" (28x28 digits and clothes) or "colour" (32x32 natural images)."""
    if dataset not in KINDS:
        raise ValueError(f"unknown dataset {dataset!r}; allowed: {sorted(KINDS)}")
    return KINDS[dataset]


def _check_scale(scale: str) -> None:
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; allowed: {list(SCALES)}")


def _entry(method: str, dataset: str, scale: str):
    from . import methods

    if method not in PRESETS:
        raise ValueError(f"unknown method {method!r}; allowed: {sorted(PRESETS)} "
                         f"(every image method of adlib.methods: {methods.available()})")
    _check_scale(scale)
    return PRESETS[method][kind(dataset)][scale]


def preset(method: str, dataset: str, scale: str) -> dict:
    """The ``make()`` options of ``method`` on ``dataset`` at ``scale`` (a fresh dict)."""
    import copy

    return copy.deepcopy(_entry(method, dataset, scale)[0])


def max_train(method: str, dataset: str, scale: str) -> int | None:
    """The seeded subset of normal training images the preset trains on (None: all)."""
    return _entry(method, dataset, scale)[1]


def presets_table():
    """Every preset as one pandas table (method, kind, scale, options, max_train, note)."""
    import pandas as pd

    rows = [{"method": m, "kind": k, "scale": s, "options": json.dumps(opts), "max_train": n,
             "note": NOTES.get(m, "")}
            for m, kinds in PRESETS.items() for k, scales in kinds.items()
            for s, (opts, n) in scales.items()]
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------- jobs


def parse_classes(spec) -> list[int]:
    """"0-9", "0,3,5", ["1", "2"] or [1, 2] -> a sorted list of ints."""
    items = spec if isinstance(spec, (list, tuple)) else [spec]
    out = []
    for item in items:
        for part in str(item).split(","):
            part = part.strip()
            if not part:
                continue
            try:
                if "-" in part[1:]:
                    a, b = part.split("-", 1)
                    out += list(range(int(a), int(b) + 1))
                else:
                    out.append(int(part))
            except ValueError:
                raise ValueError(f"bad class {part!r}: use numbers, ranges (0-9) or lists (0,3,5)") from None
    return sorted(set(out))


def plan(name: str, dataset: str, methods, protocol: str = "loo", classes="0-9", seeds=(0,),
         scale: str = "course", anomalous: str | None = None, device: str = "auto") -> list[dict]:
    """Validate every argument (one clear ``ValueError``, nothing run) and return the jobs."""
    import re

    from . import devices
    from . import methods as registry

    if not re.fullmatch(r"[A-Za-z0-9_.\-]+", str(name)):
        raise ValueError(f"sweep name {name!r} may hold only letters, digits, _ . and -")
    kind(dataset)
    _check_scale(scale)
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; allowed: {list(PROTOCOLS)}")
    methods = [methods] if isinstance(methods, str) else list(methods)
    if not methods:
        raise ValueError("no methods given; allowed: " + ", ".join(sorted(PRESETS)))
    for m in methods:
        if m not in registry.available():
            raise ValueError(f"unknown method {m!r}; allowed: {registry.available()}")
        if m not in PRESETS:
            raise ValueError(f"method {m!r} has no image presets; allowed in a sweep: {sorted(PRESETS)}")
    devices.resolve(device)
    seeds = [seeds] if isinstance(seeds, int) else list(seeds)
    if not seeds or any(not isinstance(s, int) or isinstance(s, bool) or s < 0 for s in seeds):
        raise ValueError(f"seeds must be non-negative ints, got {seeds}")
    if protocol == "ood":
        if anomalous is None:
            raise ValueError("protocol 'ood' needs anomalous=DATASET (--anomalous)")
        kind(anomalous)
        if kind(anomalous) != kind(dataset):
            raise ValueError(f"ood needs datasets of one image shape: {dataset!r} is {kind(dataset)}, "
                             f"{anomalous!r} is {kind(anomalous)}")
        classes = [None]
    else:
        classes = parse_classes(classes)
        n = _n_classes(dataset)
        bad = [k for k in classes if not 0 <= k < n]
        if bad or not classes:
            raise ValueError(f"class {bad[0] if bad else classes!r} is out of range for {dataset!r}: "
                             f"allowed 0..{n - 1}")
    return [{"name": name, "dataset": dataset, "protocol": protocol, "anomalous": anomalous,
             "method": m, "cls": k, "seed": s, "scale": scale, "device": device}
            for m in methods for k in classes for s in seeds]


def _n_classes(dataset: str) -> int:
    return {"cifar100": 100}.get(dataset, 10)


def job_dir(job: dict, root=None) -> Path:
    """``<runs root>/sweeps/<name>/<dataset>-<protocol>/<method>/class<k>/seed<s>``."""
    from . import runs

    base = Path(root) if root else runs.root()
    task = f"{job['dataset']}-{job['protocol']}" + (f"-{job['anomalous']}" if job["protocol"] == "ood" else "")
    cls = "classall" if job["cls"] is None else f"class{job['cls']}"
    return base / "sweeps" / job["name"] / task / job["method"] / cls / f"seed{job['seed']}"


def label(job: dict) -> str:
    if "notebook" in job:
        return f"{Path(job['notebook']).stem} " + " ".join(f"{k}={v}" for k, v in job["params"].items())
    what = f"vs {job['anomalous']}" if job["protocol"] == "ood" else f"class {job['cls']}"
    return f"{job['method']} {job['dataset']} {job['protocol']} {what} seed {job['seed']}"


def split_for(job: dict):
    """The job's ``adlib.data`` split (the full test split; a seeded training subset when
    the preset asks for one)."""
    from . import data

    n = max_train(job["method"], job["dataset"], job["scale"])
    if job["protocol"] == "loo":
        return data.loo(job["dataset"], anomaly=job["cls"], max_train=n, seed=job["seed"])
    if job["protocol"] == "one_class":
        return data.one_class(job["dataset"], normal=job["cls"], max_train=n, seed=job["seed"])
    return data.ood(job["dataset"], job["anomalous"], max_train=n, seed=job["seed"])


def versions() -> dict:
    from importlib.metadata import version

    import numpy
    import sklearn
    import torch

    return {"adlib": version("adlib"), "torch": torch.__version__, "numpy": numpy.__version__,
            "scikit-learn": sklearn.__version__, "python": platform.python_version()}


def _write(path: Path, obj) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj, indent=2))
    os.replace(tmp, path)  # atomic: a killed job never leaves a half-written record


def _pick_device(device: str) -> str:
    """"auto" on a worker of a multi-GPU cluster: the worker's own GPU."""
    import torch

    if device != "auto" or torch.cuda.device_count() < 2:
        return device
    try:
        from dask.distributed import get_worker

        return f"cuda:{hash(get_worker().name) % torch.cuda.device_count()}"
    except (ImportError, ValueError):
        return device


def run_job(job: dict, root: str | None = None, threads: int | None = None) -> dict:
    """Run one job (or skip it when its ``metrics.json`` exists) and return its record
    (``status``: "finished", "skipped" or "failed"). Never raises for a job's own error:
    that is written to ``failed.json`` and returned."""
    if "notebook" in job:
        return run_notebook_job(job, root)
    where = job_dir(job, root)
    done = where / "metrics.json"
    if done.exists():
        old = json.loads(done.read_text())
        if old.get("scale") != job["scale"]:  # same folder, other sizes: never mixed silently
            return {**job, "status": "failed", "error": f"{done} holds a finished run at scale "
                    f"{old.get('scale')!r}, not {job['scale']!r}; use another sweep name"}
        return {**old, "status": "skipped"}
    where.mkdir(parents=True, exist_ok=True)
    if threads:
        from .devices import set_threads

        set_threads(threads)
    try:
        return _fit_and_record(job, where)
    except Exception as err:  # noqa: BLE001 - recorded, reported at the end of the sweep
        failed = {**job, "status": "failed", "error": f"{type(err).__name__}: {err}",
                  "traceback": traceback.format_exc(), "time": _now()}
        _write(where / "failed.json", failed)
        return failed


def _now() -> str:
    return _dt.datetime.now().isoformat(timespec="seconds")


def _fit_and_record(job: dict, where: Path) -> dict:
    import torch

    from . import methods, metrics

    split = split_for(job)
    device = _pick_device(job["device"])
    opts = {**preset(job["method"], job["dataset"], job["scale"]), "seed": job["seed"], "device": device,
            "progress": False, "every": 100, "checkpoint": str(where / "ckpt.pt")}
    det = methods.make(job["method"], **opts)
    out = methods.fit_score(det, split.train_x, split.test_x)
    det = out["det"]
    scores = out["scores"]
    torch.save({"scores": scores, "test_y": split.test_y, "test_labels": split.test_labels}, where / "scores.pt")
    coverage = {}
    if job["protocol"] != "ood":
        normal = sorted(set(split.train_labels.tolist()))
        for gen, draw in generators(det).items():
            coverage[gen] = metrics.class_coverage(draw(1000), job["dataset"], normal=normal,
                                                   quick=job["scale"] == "quick")
    rec = {**job, "status": "finished", **metrics.summary(split.test_y, scores),
           "train_seconds": out["train_seconds"], "test_seconds_per_1000": out["test_seconds_per_1000"],
           "device": str(det.device), "config": det.settings(), "max_train": split.info["max_train"],
           "n_train": len(split.train_x), "n_test": len(split.test_x),
           "n_anomalies": int(split.test_y.sum()), "coverage": coverage, "versions": versions(),
           "threads": torch.get_num_threads(), "time": _now()}
    _write(where / "metrics.json", rec)
    for p in where.glob("ckpt*.pt"):
        p.unlink()
    (where / "failed.json").unlink(missing_ok=True)
    return rec


def generators(det) -> dict:
    """The sample draws of a fitted detector that has generators, by the papers' names:
    G, B (boundary), T (tail), G′ (OMASGAN's Task 3); ``{}`` for kNN, GANomaly and the VAE's
    decoder is left out (it is a reference, not a generator under test)."""
    name = det.name
    draws = {}
    if name in ("anogan", "egbad", "historyad"):
        draws["G"] = lambda n: det.sample(n, seed=0)
    if name == "omasgan":
        draws["G"] = lambda n: det.sample(n, seed=0, stage="task1")
        draws["B"] = lambda n: det.boundary(n, seed=0)
        draws["G′"] = lambda n: det.sample(n, seed=0, stage="task3")
    if name == "bdsg":
        draws["B"] = lambda n: det.boundary(n, seed=0)
    if name == "tailgan":
        draws["T"] = lambda n: det.tail(n, seed=0)
    shape = getattr(det, "shape", None)
    return {k: (lambda f: lambda n: f(n).reshape(n, *shape))(f) for k, f in draws.items()}


# ---------------------------------------------------------------------------- notebooks


def parse_values(spec: str) -> list:
    """A ``-p`` value: "0-9" (a range of ints), "0,1" (a list) or one value; each item a
    Python literal when it parses as one, else a string."""
    import ast

    def lit(s):
        try:
            return ast.literal_eval(s)
        except (ValueError, SyntaxError):
            return s

    s = str(spec)
    if "," in s:
        return [lit(v.strip()) for v in s.split(",") if v.strip()]
    if "-" in s[1:] and all(p.strip().isdigit() for p in s.split("-", 1)):
        a, b = s.split("-", 1)
        return list(range(int(a), int(b) + 1))
    return [lit(s)]


def notebook_jobs(name: str, notebook, params: dict) -> list[dict]:
    """One job per combination of ``params`` (name -> list of values) for ``notebook``."""
    import re

    nb = Path(notebook)
    if not nb.is_file() or nb.suffix != ".ipynb":
        raise ValueError(f"no notebook at {nb}")
    if not re.fullmatch(r"[A-Za-z0-9_.\-]+", str(name)):
        raise ValueError(f"sweep name {name!r} may hold only letters, digits, _ . and -")
    known = _notebook_parameters(nb)
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ValueError(f"{nb.name} has no parameter(s) {unknown}; its parameters: {sorted(known)}")
    keys = list(params)
    return [{"name": name, "notebook": str(nb.resolve()), "params": dict(zip(keys, combo))}
            for combo in itertools.product(*(params[k] for k in keys))]


def _notebook_parameters(nb: Path) -> list[str]:
    import ast

    cells = json.loads(nb.read_text())["cells"]
    for c in cells:
        if "parameters" in c.get("metadata", {}).get("tags", []):
            tree = ast.parse("".join(c["source"]))
            return [t.target.id if isinstance(t, ast.AnnAssign) else t.targets[0].id
                    for t in tree.body if isinstance(t, (ast.AnnAssign, ast.Assign))]
    raise ValueError(f"{nb} has no cell tagged 'parameters'")


def notebook_dir(job: dict, root=None) -> Path:
    from . import runs

    base = Path(root) if root else runs.root()
    combo = "_".join(f"{k}{v}" for k, v in job["params"].items()) or "defaults"
    return base / "sweeps" / job["name"] / f"notebook-{Path(job['notebook']).stem}" / combo


def run_notebook_job(job: dict, root=None) -> dict:
    """Execute the notebook with papermill in its own process (never two kernels in one
    process), its runs root inside the job folder; keep the executed notebook and record
    every scalar metric the lab recorded."""
    from . import runs

    where = notebook_dir(job, root)
    done = where / "metrics.json"
    if done.exists():
        return {**json.loads(done.read_text()), "status": "skipped"}
    where.mkdir(parents=True, exist_ok=True)
    nb = Path(job["notebook"])
    cmd = [sys.executable, "-m", "papermill", str(nb), str(where / nb.name), "--cwd", str(nb.parent),
           "-y", json.dumps(job["params"]), "--no-progress-bar"]
    env = {**os.environ, "ADLIB_RUNS": str(where / "runs")}
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode:
        failed = {**job, "status": "failed", "error": f"papermill exited {proc.returncode}",
                  "traceback": proc.stderr[-4000:], "time": _now()}
        _write(where / "failed.json", failed)
        return failed
    lab = runs.collect(where / "runs")
    rec = {**job, "status": "finished", "seconds": seconds, "time": _now(), "versions": versions(),
           "metrics": {f"{r.run}/{r.metric}": r.value for r in lab.itertuples()}}
    _write(done, rec)
    (where / "failed.json").unlink(missing_ok=True)
    return rec


# ---------------------------------------------------------------------------- running


def default_workers() -> tuple[int, int, dict | None]:
    """(workers, threads per job, worker resources) for this machine: one worker per GPU
    with a GPU resource when there are GPUs, else one per two CPU cores."""
    import torch

    from .devices import cores

    if torch.cuda.is_available():
        return torch.cuda.device_count(), max(1, cores() // torch.cuda.device_count()), {"GPU": 1}
    n = max(1, cores() // 2)
    return n, max(1, cores() // n), None


def run(jobs: list[dict], *, root=None, workers: int | None = None, scheduler: str | None = None,
        serial: bool = False, job_fn=None, progress: bool = True) -> list[dict]:
    """Run ``jobs`` (``plan`` or ``notebook_jobs``) and return their records in order.

    ``serial``: in this process. ``scheduler``: the address of an existing Dask cluster.
    Otherwise an embedded ``LocalCluster`` on 127.0.0.1 with ``workers`` workers (default
    ``default_workers()``); its dashboard address is printed. ``job_fn`` replaces
    ``run_job`` (tests). Finished jobs are skipped; the records say ``status``."""
    from tqdm.auto import tqdm

    job_fn = job_fn or run_job
    root = str(root) if root else None
    _classifiers_first(jobs)
    bar = tqdm(total=len(jobs), desc="jobs", disable=not progress)
    out: list[dict | None] = [None] * len(jobs)

    def finish(i, rec):
        out[i] = rec
        bar.update()
        bar.write(_line(jobs[i], rec))

    if serial:
        for i, job in enumerate(jobs):
            finish(i, job_fn(job, root, None))
        bar.close()
        return out
    from dask.distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler:
        client = Client(scheduler)
        threads, resources = None, None
    else:
        n, threads, resources = default_workers()
        n = workers or n
        if workers:
            from .devices import cores

            threads = max(1, cores() // workers)
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address="127.0.0.1:0", resources=resources,
                               silence_logs=40)
        client = Client(cluster)
    print(f"dask: {len(client.scheduler_info()['workers'])} workers, dashboard {client.dashboard_link}",
          flush=True)
    try:
        futures = {client.submit(job_fn, job, root, threads, pure=False, key=f"job-{i}-{time.time_ns()}",
                                 resources={"GPU": 1} if resources else None): i
                   for i, job in enumerate(jobs)}
        for fut in as_completed(futures):
            i = futures[fut]
            try:
                rec = fut.result()
            except Exception as err:  # noqa: BLE001 - e.g. KilledWorker after repeated worker deaths
                rec = {**jobs[i], "status": "failed", "error": f"{type(err).__name__}: {err}"}
            finish(i, rec)
    finally:
        bar.close()
        client.close()
        if cluster is not None:
            cluster.close()
    return out


GENERATIVE = ("bdsg", "tailgan", "omasgan", "historyad", "anogan", "egbad")


def _classifiers_first(jobs: list[dict]) -> None:
    """Train (or load) the coverage classifiers the jobs will need here, once, before the
    workers start: otherwise every worker would train its own copy at the same time."""
    from . import metrics

    need = {(j["dataset"], j["scale"] == "quick") for j in jobs
            if "notebook" not in j and j["method"] in GENERATIVE and j["protocol"] != "ood"}
    for dataset, quick in sorted(need):
        metrics.classifier(dataset, quick=quick)


def _line(job: dict, rec: dict) -> str:
    if rec["status"] == "failed":
        return f"FAILED  {label(job)}: {rec['error']}"
    if "notebook" in job:
        return f"{rec['status']:<8} {label(job)} ({rec.get('seconds', 0):.0f} s)"
    return (f"{rec['status']:<8} {label(job)}: AUROC {rec['auroc']:.3f} "
            f"(train {rec['train_seconds']:.0f} s)")


def report(records: list[dict], jobs: list[dict]) -> int:
    """Print the failed jobs (with their errors); 0 if none failed, else 1."""
    failed = [(j, r) for j, r in zip(jobs, records) if r is None or r["status"] == "failed"]
    done = sum(r is not None and r["status"] == "finished" for r in records)
    skipped = sum(r is not None and r["status"] == "skipped" for r in records)
    print(f"{done} jobs run, {skipped} skipped (finished before), {len(failed)} failed")
    for j, r in failed:
        print(f"  failed: {label(j)}: {r['error'] if r else 'no result'}")
    return 1 if failed else 0
