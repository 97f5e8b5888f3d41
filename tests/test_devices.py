"""The device option, the fit skeleton's input checks, device-free files and the import
footprint of ``adlib.methods`` (issue: every method on the GPU when there is one)."""
import json
import subprocess
import sys

import pytest
import torch
from torch.utils._device import DeviceContext  # what torch.set_default_device installs

from adlib import data, devices, methods
from adlib.density import Flow

CUDA = torch.cuda.is_available()
TOY = data.toy("bimodal")
POINTS = TOY.sample(300, seed=1)
IMAGES = torch.rand(48, 1, 8, 8) * 2 - 1  # the smallest images the conv nets take (side divisible by 4)
TINY_FLOW = {"steps": 3, "transforms": 1, "hidden": (16,)}


def tiny(name: str, images: bool = False, **extra) -> dict:
    """Options that make ``name`` fit in a fraction of a second."""
    kw = {"progress": False, "seed": 0}
    kw.update({
        "bdsg": {"density": "flow" if images else TOY, "flow": TINY_FLOW, "steps": 3, "M": 32, "N": 16},
        "tailgan": {"flow": TINY_FLOW, "steps": 3, "M": 32, "N": 16},
        "omasgan": {"steps": (2, 2, 2, 2), "Q": 32, "N": 16, "critic_steps": 1},
        "historyad": {"epochs": 2, "saves_per_epoch": 1, "tv_steps": 3, "pool": 64, "batch": 16, "critic_steps": 1},
        "anogan": {"steps": 3, "search_steps": 2, "batch": 16},
        "egbad": {"steps": 3, "batch": 16},
        "ganomaly": {"steps": 3, "batch": 16},
        "knn": {"k": 3},
        "vae": {"steps": 3, "batch": 16},
    }[name])
    kw.update(extra)
    return kw


ALL = methods.available()


def test_resolve_names_the_value_and_what_is_allowed():
    assert devices.resolve("cpu") == torch.device("cpu")
    assert devices.resolve(torch.device("cpu")) == torch.device("cpu")
    assert devices.resolve("auto").type == ("cuda" if CUDA else "cpu")
    for bad in ("nope", "gpu", "cuda:x", "CPU", 3, None):
        with pytest.raises(ValueError, match=r"unknown device .*allowed: 'auto', 'cpu', 'cuda' or 'cuda:N'"):
            devices.resolve(bad)


@pytest.mark.skipif(CUDA, reason="checks the error on a machine without CUDA")
def test_cuda_without_a_gpu_is_a_clear_error():
    for name in ("cuda", "cuda:0"):
        with pytest.raises(ValueError, match="no CUDA GPU"):
            devices.resolve(name)


@pytest.mark.parametrize("name", ALL)
def test_every_method_takes_the_device_option(name):
    det = methods.make(name, **tiny(name), device="cpu")
    assert det.device == torch.device("cpu")
    assert methods.make(name, **tiny(name)).device.type == ("cuda" if CUDA else "cpu")  # "auto"
    with pytest.raises(ValueError, match="unknown device 'nope'"):
        methods.make(name, **tiny(name), device="nope")


def test_flow_takes_the_device_option():
    assert Flow(progress=False, device="cpu").device == torch.device("cpu")
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        Flow(device="tpu")


class MetaByDefault(DeviceContext):
    """PyTorch's default device set to "meta", except that ``torch.as_tensor(t)`` of a tensor
    keeps ``t`` as it is, as it does with no default device (zuko wraps its own buffers so on
    every call: that makes no tensor)."""

    def __init__(self):
        super().__init__("meta")

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func is torch.as_tensor and args and torch.is_tensor(args[0]) and not kwargs:
            return args[0]
        return super().__torch_function__(func, types, args, kwargs)


@pytest.mark.parametrize("images", [False, True], ids=["points", "images"])
@pytest.mark.parametrize("name", ALL)
def test_no_tensor_is_made_off_the_device(name, images):
    """A fit and a score with device="cpu" while PyTorch's default device is "meta": a tensor
    made without an explicit device would land on "meta" and break the first operation that
    mixes it with real ones, so this fails wherever a method forgets the device."""
    x = IMAGES if images else POINTS
    det = methods.make(name, **tiny(name, images), device="cpu")
    with MetaByDefault():
        det.fit(x)
        s = det.score(x[:5])
    assert s.device.type == "cpu" and s.shape == (5,) and torch.isfinite(s).all()


@pytest.mark.parametrize("name", ALL)
def test_saved_files_are_device_free_and_load_on_the_cpu(name, tmp_path):
    det = methods.make(name, **tiny(name, images=True)).fit(IMAGES)
    path = det.save(tmp_path / "det.pt")
    saved = torch.load(path, map_location="meta", weights_only=False)  # where each tensor was saved
    tensors = [t for m in saved["modules"].values() for t in m.values()]
    tensors += [t for t in saved["extra"].values() if torch.is_tensor(t)]
    assert tensors or name == "knn"
    assert all(t.device.type == "meta" for t in tensors)  # meta after map_location: nothing pinned elsewhere
    again = methods.load(path, device="cpu")
    assert again.device == torch.device("cpu")
    assert torch.allclose(again.score(IMAGES[:6]), det.score(IMAGES[:6]).cpu(), atol=1e-4)


@pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU")
@pytest.mark.parametrize("name", ALL)
def test_cuda_fit_scores_on_the_cpu_and_reloads_there(name, tmp_path):
    det = methods.make(name, **tiny(name, images=True), device="cuda").fit(IMAGES)
    s = det.score(IMAGES[:6])
    assert s.device.type == "cpu"
    again = methods.load(det.save(tmp_path / "det.pt"), device="cpu")
    assert torch.allclose(again.score(IMAGES[:6]), s, atol=1e-3)


@pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU")
def test_a_cuda_checkpoint_resumes_on_the_cpu(tmp_path):
    ckpt = str(tmp_path / "ganomaly.pt")
    methods.make("ganomaly", **tiny("ganomaly", steps=4), device="cuda", checkpoint=ckpt, every=2).fit(IMAGES)
    longer = methods.make("ganomaly", **tiny("ganomaly", steps=6), device="cpu", checkpoint=ckpt, every=2)
    assert len(longer.fit(IMAGES).history["generator"]) == 6  # 4 steps from the GPU's file, 2 more here
    other = methods.make("ganomaly", **tiny("ganomaly", steps=6, w_con=5.0), device="cpu", checkpoint=ckpt)
    with pytest.raises(ValueError, match="other settings"):
        other.fit(IMAGES)


# -- the skeleton's input checks
@pytest.mark.parametrize("name", ALL)
def test_nan_rows_in_training_data_are_named(name):
    x = POINTS.clone()
    x[7, 0], x[42, 1] = float("nan"), float("inf")
    with pytest.raises(ValueError, match=r"NaN or inf in 2 of 300 rows \(rows \[7, 42\]\)"):
        methods.make(name, **tiny(name)).fit(x)


@pytest.mark.parametrize("name", ["knn", "ganomaly"])
def test_score_on_points_of_the_wrong_shape_says_both_shapes(name):
    det = methods.make(name, **tiny(name)).fit(POINTS)
    with pytest.raises(ValueError, match=r"fitted on points of shape \(2,\); got 4 points of shape \(3,\)"):
        det.score(torch.zeros(4, 3))


def test_a_damaged_file_names_itself(tmp_path):
    path = methods.make("knn", k=2).fit(POINTS).save(tmp_path / "knn.pt")
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match=r"knn.pt is not a readable adlib detector file"):
        methods.load(path)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, other)
    with pytest.raises(ValueError, match=r"other.pt is not an adlib detector file: it lacks \['method'"):
        methods.load(other)


@pytest.mark.parametrize("name", ALL)
def test_a_negative_seed_is_refused_by_every_method(name):
    with pytest.raises(ValueError, match="seed must be a non-negative int, got -1"):
        methods.make(name, **tiny(name, seed=-1))


def test_historyad_takes_its_low_dimensional_defaults_from_the_table():
    det = methods.make("historyad", progress=False)
    det._settle((2,))
    assert (det.epochs, det.batch, det.momentum, det.case, det.pool, det.hidden) == (10, 32, 0.9, 2, 20000, (256, 256))
    det._settle((1, 28, 28))
    assert (det.epochs, det.batch, det.momentum, det.case, det.beta, det.latent_dim) == (5, 64, 0.5, 1, 3.0, 100)
    mine = methods.make("historyad", batch=100)  # a given value wins
    mine._settle((2,))
    assert mine.batch == 100


# -- fit_score reloads runs whose config holds an object
def test_fit_score_reloads_a_bdsg_run_with_a_toy_density(tmp_path):
    split = data.toy_split(TOY, 50, 50, seed=0, n_train=300)
    make = lambda: methods.make("bdsg", density=data.toy("bimodal"), steps=3, M=32, N=16, progress=False)
    first = methods.fit_score(make(), split.train_x, split.test_x, where=tmp_path / "bdsg")
    again = methods.fit_score(make(), split.train_x, split.test_x, where=tmp_path / "bdsg")  # another toy object
    assert torch.equal(again["scores"], first["scores"]) and again["train_seconds"] == first["train_seconds"]
    with pytest.raises(ValueError, match="holds another run"):
        methods.fit_score(methods.make("bdsg", density=data.toy("ring"), steps=3, M=32, N=16, progress=False),
                          split.train_x, split.test_x, where=tmp_path / "bdsg")


def test_fit_score_tells_flows_apart_by_their_weights(tmp_path):
    x = POINTS
    flow = lambda seed: Flow(progress=False, seed=seed, **TINY_FLOW).fit(x)
    make = lambda f: methods.make("tailgan", density=f, steps=2, M=32, N=16, progress=False)
    methods.fit_score(make(flow(0)), x, x[:20], where=tmp_path / "t")
    assert methods.fit_score(make(flow(0)), x, x[:20], where=tmp_path / "t")["scores"].shape == (20,)
    with pytest.raises(ValueError, match="holds another run"):
        methods.fit_score(make(flow(1)), x, x[:20], where=tmp_path / "t")


def test_import_methods_leaves_the_notebook_stack_alone():
    code = ("import sys, json, adlib.methods; "
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
            "{'ipywidgets', 'matplotlib', 'seaborn', 'voila', 'jupyter', 'jupyterlab', 'jupyter_server', "
            "'ipykernel', 'plotly'})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []
    # and `import adlib` still hands a notebook user the whole kit, on first use
    code = "import adlib; adlib.plots, adlib.widgets; print('ok')"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "ok"
