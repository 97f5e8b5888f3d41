"""Sweeps, results tables and the VAE reference (issue: the full leave-one-out benchmark)."""
import json
import os
import sys

import cloudpickle
import pandas as pd
import pytest
import torch

from adlib import cli, data, methods, metrics, results, sweep

cloudpickle.register_pickle_by_value(sys.modules[__name__])  # Dask workers need _die_once by value


def test_presets_exist_and_are_valid_for_every_method_kind_and_scale():
    image_methods = {"knn", "vae", "bdsg", "tailgan", "omasgan", "historyad", "anogan", "egbad", "ganomaly"}
    assert set(sweep.PRESETS) == image_methods and set(sweep.NOTES) == image_methods
    for m in image_methods:
        for dataset in ("mnist", "cifar10"):
            for scale in sweep.SCALES:
                opts = sweep.preset(m, dataset, scale)
                methods.make(m, **opts)  # the options are valid for make()
                n = sweep.max_train(m, dataset, scale)
                assert n is None or n > 0
    # quick is smaller than course, course smaller than paper (in the steps they train)
    steps = lambda m, s: json.dumps(sweep.preset(m, "mnist", s))  # noqa: E731
    assert steps("ganomaly", "quick") != steps("ganomaly", "course") != steps("ganomaly", "paper")
    assert sweep.preset("anogan", "mnist", "paper")["search_steps"] == 500
    table = sweep.presets_table()
    assert len(table) == len(image_methods) * 2 * 3


@pytest.mark.parametrize("call, bad", [
    (lambda: sweep.plan("t", "mnist", ["nope"]), "'nope'"),
    (lambda: sweep.plan("t", "mnist", ["knn"], classes="0-12"), "class 10"),
    (lambda: sweep.plan("t", "mnist", ["knn"], scale="huge"), "'huge'"),
    (lambda: sweep.plan("t", "imagenet", ["knn"]), "'imagenet'"),
    (lambda: sweep.plan("t", "mnist", ["knn"], protocol="ood"), "--anomalous"),
    (lambda: sweep.plan("t", "mnist", ["knn"], protocol="ood", anomalous="cifar10"), "'cifar10' is colour"),
    (lambda: sweep.plan("t", "mnist", ["knn"], protocol="pairs"), "'pairs'"),
    (lambda: sweep.plan("t", "mnist", ["knn"], device="tpu"), "'tpu'"),
    (lambda: sweep.plan("a b", "mnist", ["knn"]), "'a b'"),
])
def test_plan_names_the_bad_argument(call, bad):
    with pytest.raises(ValueError, match=bad.replace("(", r"\(")):
        call()


def test_cli_refuses_bad_arguments_before_running_anything(tmp_path, capsys):
    with pytest.raises(SystemExit) as err:
        cli.main(["sweep", "--name", "t", "--dataset", "mnist", "--methods", "knn", "omasgn",
                  "--root", str(tmp_path), "--serial"])
    assert err.value.code == 2
    assert "unknown method 'omasgn'" in capsys.readouterr().err
    assert not (tmp_path / "sweeps").exists()


def _knn_sweep(root, *extra):
    return cli.main(["sweep", "--name", "tiny", "--dataset", "mnist", "--methods", "knn", "--classes", "0,1",
                     "--scale", "quick", "--root", str(root), *extra])


def test_tiny_cli_sweep_writes_the_layout_and_a_rerun_skips(tmp_path, capsys):
    assert _knn_sweep(tmp_path, "--serial") == 0
    files = [tmp_path / f"sweeps/tiny/mnist-loo/knn/class{k}/seed0/metrics.json" for k in (0, 1)]
    recs = [json.loads(f.read_text()) for f in files]
    for k, rec in enumerate(recs):
        for key in ("auroc", "auprc", "f1", "train_seconds", "test_seconds_per_1000", "device", "scale",
                    "config", "versions"):
            assert key in rec, key
        assert rec["cls"] == k and rec["scale"] == "quick" and rec["n_test"] == 10_000  # the full test split
        assert 0 < rec["auroc"] < 1 and rec["versions"]["torch"] == torch.__version__
    assert recs[0]["auroc"] > 0.9 > 0.5 > recs[1]["auroc"]  # digit 0 is easy; digit 1 fools pixel distances
    out = capsys.readouterr().out
    assert "finished knn mnist loo class 1 seed 0: AUROC" in out  # one line per finished job
    stamps = [f.stat().st_mtime_ns for f in files]
    assert _knn_sweep(tmp_path, "--serial") == 0
    assert "0 jobs run, 2 skipped" in capsys.readouterr().out
    assert [f.stat().st_mtime_ns for f in files] == stamps
    df = results.table("tiny", root=tmp_path)
    assert list(df.sort_values("cls").auroc) == [r["auroc"] for r in recs]
    assert set(results.COLUMNS) <= set(df.columns)

    # the same jobs on a 2-worker LocalCluster give the same numbers
    other = tmp_path / "dask"
    assert _knn_sweep(other, "--workers", "2") == 0
    df2 = results.table("tiny", root=other)
    assert list(df2.sort_values("cls").auroc) == list(df.sort_values("cls").auroc)


def test_a_job_that_raises_is_recorded_as_failed_and_the_sweep_exits_nonzero(tmp_path, capsys, monkeypatch):
    def broken(job):
        raise RuntimeError("no data today")

    monkeypatch.setattr(sweep, "split_for", broken)
    assert _knn_sweep(tmp_path, "--serial") == 1
    out = capsys.readouterr().out
    assert "failed: knn mnist loo class 0 seed 0: RuntimeError: no data today" in out
    where = tmp_path / "sweeps/tiny/mnist-loo/knn/class0/seed0"
    assert not (where / "metrics.json").exists()
    assert "no data today" in json.loads((where / "failed.json").read_text())["error"]


def _die_once(job, root, threads):
    """A job function whose worker dies the first time it runs a job."""
    marker = os.path.join(root, f"died-{job['cls']}")
    if not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(1)
    return sweep.run_job(job, root, threads)


def test_a_job_whose_worker_dies_is_retried(tmp_path):
    jobs = sweep.plan("tiny", "mnist", ["knn"], classes="3", scale="quick")
    recs = sweep.run(jobs, root=tmp_path, workers=1, job_fn=_die_once, progress=False)
    assert (tmp_path / "died-3").exists()
    assert recs[0]["status"] == "finished" and 0.5 < recs[0]["auroc"] <= 1
    assert (sweep.job_dir(jobs[0], tmp_path) / "metrics.json").exists()


def test_notebook_jobs_run_each_combination_in_its_own_papermill_process(tmp_path):
    nb = {"cells": [
        {"cell_type": "code", "metadata": {"tags": ["parameters"]}, "execution_count": None, "outputs": [],
         "source": "seed: int = 0\nmnist_digit: int = 0\n"},
        {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
         "source": "import adlib\nadlib.runs.record('labx', auroc=0.5 + mnist_digit / 10 + seed / 100)\n"}],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "labx.ipynb"
    path.write_text(json.dumps(nb))
    with pytest.raises(ValueError, match="'nope'"):
        sweep.notebook_jobs("nb", path, {"nope": [1]})
    jobs = sweep.notebook_jobs("nb", path, {"mnist_digit": sweep.parse_values("1-2"), "seed": sweep.parse_values("3")})
    assert [j["params"] for j in jobs] == [{"mnist_digit": 1, "seed": 3}, {"mnist_digit": 2, "seed": 3}]
    recs = sweep.run(jobs, root=tmp_path / "runs", serial=True, progress=False)
    assert [r["status"] for r in recs] == ["finished", "finished"]
    where = sweep.notebook_dir(jobs[1], tmp_path / "runs")
    assert (where / "labx.ipynb").exists()  # the executed notebook next to its metrics
    df = results.table("nb", root=tmp_path / "runs").sort_values("cls")
    assert list(df["labx/auroc"]) == pytest.approx([0.63, 0.73])
    assert list(df.cls) == [1, 2] and list(df.seed) == [3, 3]


def test_reference_holds_the_papers_numbers():
    ref = results.reference()
    row = lambda **kw: ref[(ref[list(kw)] == pd.Series(kw)).all(axis=1)]  # noqa: E731
    om = row(method="omasgan", dataset="mnist", protocol="loo", cls="mean")
    assert float(om.auroc.iloc[0]) == 0.85 and float(om.sd.iloc[0]) == 0.036
    om = row(method="omasgan", dataset="cifar10", protocol="loo", cls="mean")
    assert float(om.auroc.iloc[0]) == 0.71 and float(om.sd.iloc[0]) == 0.056
    sds = {m: float(row(method=m, dataset="mnist", protocol="loo", cls="mean").sd.iloc[0])
           for m in ("egbad", "anogan", "bdsg", "tailgan", "ganomaly")}
    assert sds == {"egbad": 0.153, "anogan": 0.093, "bdsg": 0.24, "tailgan": 0.059, "ganomaly": 0.074}
    vae = row(method="vae", dataset="mnist", protocol="loo").query("cls != 'mean'")
    vae = vae.sort_values("cls", key=lambda c: c.astype(int))
    assert list(vae.auroc) == [0.96, 0.73, 0.97, 0.94, 0.73, 0.92, 0.95, 0.77, 0.92, 0.66]
    assert all(isinstance(s, str) and s for s in ref.source)


def test_summary_by_hand():
    df = pd.DataFrame({"method": ["a"] * 4, "dataset": "mnist", "protocol": "loo", "cls": [0, 0, 1, 1],
                       "seed": [0, 1, 0, 1], "auroc": [0.6, 0.8, 0.9, 0.9]})
    s = results.summary(df).set_index("cls")
    assert s.loc[0, "mean"] == pytest.approx(0.7) and s.loc[0, "sd"] == pytest.approx(0.1414, abs=1e-4)
    assert s.loc[1, "sd"] == 0
    assert s.loc["mean", "mean"] == pytest.approx(0.8) and s.loc["mean", "sd"] == pytest.approx(0.1414, abs=1e-4)
    assert s.loc["mean", "seed_sd"] == pytest.approx(0.0707, abs=1e-4) and s.loc["mean", "n"] == 2
    assert results.means(results.summary(df), "mnist") == {"a": pytest.approx(0.8)}


def test_recorded_course_sweeps_ship_with_the_package():
    df = results.recorded("course")
    assert set(results.COLUMNS) <= set(df.columns)
    mnist = df[(df.dataset == "mnist") & (df.protocol == "loo")]
    assert set(mnist.cls) == set(range(10)) and {"knn", "vae"} <= set(mnist.method)
    assert mnist.auroc.between(0, 1).all() and (mnist.scale == "course").all()
    with pytest.raises(FileNotFoundError, match="'huge'"):
        results.recorded("huge")


def test_vae_scores_are_deterministic_and_batch_independent():
    x = torch.randn(400, 2) * torch.tensor([3.0, 0.5])
    det = methods.make("vae", steps=150, batch=64, progress=False, seed=0).fit(x)
    pts = torch.tensor([[0.0, 0.0], [9.0, 0.0], [0.0, 4.0]])
    s = det.score(pts)
    assert s[0] < s[1] and s[0] < s[2]  # far points cost more nats
    assert torch.equal(det.score(pts), s)
    assert torch.allclose(det.score(torch.cat([pts, x[:50]]), batch_size=7)[:3], s, atol=1e-5)
    img = torch.rand(64, 1, 8, 8) * 2 - 1
    det = methods.make("vae", steps=5, batch=16, progress=False).fit(img)
    assert det.score(img).shape == (64,) and det.sample(3, seed=1).shape == (3, 1, 8, 8)
    assert det.reconstruct(img[:4]).abs().max() <= 1
    with pytest.raises(ValueError, match="latent_dim"):
        methods.make("vae", latent_dim=0)


def test_class_coverage_counts_the_classes_a_generator_covers(runs_root):
    d = data.images("mnist")
    threes = d.test_x[d.test_y == 3][:300]
    mixed = d.test_x[:1000]
    one = metrics.class_coverage(threes, "mnist", normal=range(9), quick=True)
    many = metrics.class_coverage(mixed, "mnist", normal=range(9), quick=True)
    assert one["accuracy"] > 0.8  # a real classifier, trained once (1 epoch on 5000 digits) ...
    assert max(one["shares"]) == one["shares"][3] > 0.8 and one["covered"] == 1
    assert many["covered"] == 9 and sum(many["shares"]) == pytest.approx(1)
    assert list(runs_root.glob("classifiers/mnist-quick.pt"))  # ... and cached


def test_export_leaves_out_a_method_whose_loo_run_is_partial(tmp_path, monkeypatch):
    rows = [{"method": m, "dataset": "cifar10", "protocol": "loo", "cls": k, "seed": 0, "auroc": 0.5}
            for m, ks in (("knn", range(10)), ("tailgan", range(3))) for k in ks]
    monkeypatch.setattr(results, "table", lambda name, root=None: pd.DataFrame(rows))
    out = results.export("x", tmp_path / "x.csv")
    assert set(out.method) == {"knn"} and len(pd.read_csv(tmp_path / "x.csv")) == 10


def test_export_writes_the_coverage_columns_in_one_order(tmp_path, monkeypatch):
    """The order the jobs were found in must not reorder the shipped CSV's columns."""
    for i, first in enumerate((["covered_T", "covered_G"], ["covered_G", "covered_T"])):
        rows = [{"method": "m", "dataset": "mnist", "protocol": "loo", "cls": 0, "seed": 0, "auroc": 0.5,
                 **dict.fromkeys(first, 3)}]
        monkeypatch.setattr(results, "table", lambda name, root=None, rows=rows: pd.DataFrame(rows))
        out = results.export("x", tmp_path / f"{i}.csv")
        assert list(out.columns)[-2:] == ["covered_G", "covered_T"]


def test_table_keeps_class_labels_as_ints_beside_an_ood_job(tmp_path):
    """A sweep with LOO jobs (classes 0, 1) and an OOD job (no class): pandas would read the
    classes as 0.0, 1.0, NaN, and every table and chart would label them so."""
    for sub, cls, protocol in (("a", 0, "loo"), ("b", 1, "loo"), ("c", None, "ood")):
        d = tmp_path / "sweeps" / "mix" / sub
        d.mkdir(parents=True)
        (d / "metrics.json").write_text(json.dumps({"method": "knn", "dataset": "mnist", "protocol": protocol,
                                                    "cls": cls, "seed": 0, "auroc": 0.5}))
    df = results.table("mix", root=tmp_path)
    assert list(df.cls) == [0, 1, None] and all(type(c) is int for c in df.cls[:2])
    assert set(results.summary(df).cls) == {0, 1, "all", "mean"}
