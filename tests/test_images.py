"""Image datasets and splits on the real files under the data root (see data/README.md)."""
import time

import pytest
import torch
import torchvision
from PIL import Image

from adlib import data


@pytest.fixture(scope="module")
def mnist():
    return data.images("mnist")


def test_mnist_is_scaled_to_minus_one_one(mnist):
    assert mnist.train_x.shape == (60000, 1, 28, 28) and mnist.test_x.shape == (10000, 1, 28, 28)
    assert mnist.train_x.min() == -1.0 and mnist.train_x.max() == 1.0


def test_loo_keeps_the_anomaly_out_of_training_and_matches_torchvision(mnist):
    tv = torchvision.datasets.MNIST(str(data.data_root()), train=False)
    for k in range(10):
        s = data.loo("mnist", k)
        assert (s.train_labels != k).all()
        assert len(s.train_x) == int((mnist.train_y != k).sum())
        assert len(s.test_x) == 10000
        assert int(s.test_y.sum()) == int((tv.targets == k).sum())


def test_subsets_are_stratified_and_seeded():
    a = data.loo("mnist", 4, max_train=900, max_test=1000, seed=1)
    b = data.loo("mnist", 4, max_train=900, max_test=1000, seed=1)
    c = data.loo("mnist", 4, max_train=900, max_test=1000, seed=2)
    assert torch.equal(a.train_x, b.train_x) and not torch.equal(a.train_x, c.train_x)
    assert len(a.train_x) == 900 and len(a.test_x) == 1000
    counts = torch.bincount(a.train_labels, minlength=10)
    assert counts[4] == 0 and counts[counts > 0].min() >= 90  # ~100 per normal digit
    assert 90 <= int(a.test_y.sum()) <= 110  # digit 4 is ~9.8 % of the test split


def test_one_class_ood_and_pooled():
    oc = data.one_class("mnist", 7, max_test=500)
    assert (oc.train_labels == 7).all() and oc.test_y.float().mean() > 0.8
    od = data.ood("mnist", "fashion_mnist", max_train=100, max_test=400)
    assert int(od.test_y.sum()) == 200 and len(od.train_x) == 100
    p = data.pooled("mnist", 0, seed=0)
    assert (p.train_labels != 0).all()
    assert len(p.test_x) == 14000  # 20 % of the pooled 70 000
    assert int(p.test_y.sum()) > 1000


def test_bad_classes_and_names_raise_clear_errors():
    with pytest.raises(ValueError, match=r"anomaly class 10 .*0\.\.9"):
        data.loo("mnist", 10)
    with pytest.raises(ValueError, match="unknown dataset 'mnsit'.*fashion_mnist"):
        data.loo("mnsit", 1)
    with pytest.raises(ValueError, match="shapes differ"):
        data.ood("mnist", "cifar10")


@pytest.mark.parametrize("name", ["mnist", "kmnist", "svhn", "cifar10", "cifar100"])
def test_missing_dataset_fails_fast_and_says_where(tmp_path, monkeypatch, name):
    monkeypatch.setenv("ADLIB_DATA", str(tmp_path))
    monkeypatch.setattr(data, "_reachable", lambda urls, timeout=2.0: False)  # offline
    t0 = time.time()
    with pytest.raises(data.DatasetNotFound) as err:
        data.images(name)
    assert time.time() - t0 < 5
    assert name in str(err.value) and str(tmp_path) in str(err.value)


def test_missing_dataset_fails_fast_with_the_real_network_check(tmp_path, monkeypatch):
    monkeypatch.setenv("ADLIB_DATA", str(tmp_path))
    t0 = time.time()
    try:
        data.images("kmnist")
    except data.DatasetNotFound:
        pass  # offline machine: must be quick
    else:  # an online machine downloaded it: that is fine too
        return
    assert time.time() - t0 < 10


def test_cifar10_falls_back_to_the_jpeg_pack_with_a_warning():
    if not (data.data_root() / "cifar10-jpeg").is_dir():
        pytest.skip("no cifar10-jpeg pack under the data root")
    data._images_cached.cache_clear()
    data._warned_jpeg = False
    with pytest.warns(UserWarning, match="not comparable"):
        c = data.images("cifar10")
    assert c.train_x.shape == (10000, 3, 32, 32) and c.classes[0] == "airplane"
    s = data.loo(c, 3, max_test=200)
    assert s.train_x.shape[1:] == (3, 32, 32) and int(s.test_y.sum()) == 20


def test_image_folder_brings_your_own_data(tmp_path):
    for cls, value in (("bag", 0), ("threat", 255)):
        (tmp_path / cls).mkdir()
        for i in range(10):
            Image.new("L", (8, 8), color=value).save(tmp_path / cls / f"{i}.png")
    d = data.image_folder(tmp_path)
    assert d.classes == ["bag", "threat"] and len(d.train_x) == 16 and len(d.test_x) == 4
    s = data.loo(d, 1)
    assert s.train_x.max() == -1.0  # only "bag" (black) images in training
    assert s.test_y.tolist().count(1) == 2
