"""The survey baselines (AnoGAN, EGBAD, GANomaly) and the kNN reference: scores by hand on
tiny inputs, batch independence, save / load, config errors."""
import pytest
import torch
import torch.nn.functional as F

from adlib import data, methods, metrics

TOY = data.toy("bimodal")
X = TOY.sample(600, seed=1)
IMAGES = torch.rand(40, 1, 28, 28) * 2 - 1


def test_knn_is_the_mean_distance_to_the_k_nearest_by_hand():
    train = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [3.0, 3.0]])
    det = methods.make("knn", k=2).fit(train)
    # the kit standardises 2-D data by one overall SD; distances shrink by that number
    q = torch.tensor([[0.0, 1.0]])  # raw distances 1, sqrt(2), 1, sqrt(13): the two nearest are 1 and 1
    assert det.score(q).item() == pytest.approx(1.0 / float(det.scale), rel=1e-5)
    assert det.score(train[:1]).item() == pytest.approx(0.5 / float(det.scale), rel=1e-5)  # itself (0) and (1, 0)


def test_knn_pca_with_every_component_keeps_the_distances():
    x = torch.randn(200, 1, 4, 4)  # 16 "pixels"
    pixel = methods.make("knn", k=3).fit(x)
    pca = methods.make("knn", k=3, space="pca", components=16).fit(x)
    q = torch.randn(30, 1, 4, 4)
    assert torch.allclose(pixel.score(q), pca.score(q), atol=1e-4)  # a rotation keeps distances
    fewer = methods.make("knn", k=3, space="pca", components=2).fit(x)
    assert not torch.allclose(pixel.score(q), fewer.score(q), atol=1e-2)


def test_knn_separates_the_toy_and_round_trips(tmp_path):
    split = data.toy_split(TOY, 500, 500, seed=0, n_train=3000)
    det = methods.make("knn", k=5).fit(split.train_x)
    s = det.score(split.test_x)
    assert metrics.auroc(split.test_y, s) > 0.95
    again = methods.load(det.save(tmp_path / "knn.pt"))
    assert torch.equal(again.score(split.test_x), s)


@pytest.fixture(scope="module")
def anogan():
    return methods.make("anogan", steps=300, search_steps=30, seed=0, progress=False).fit(X)


def test_anogan_score_is_the_search_loss_and_batch_independent(anogan):
    q = TOY.sample(12, seed=5)
    z, loss = anogan.search(q)
    s = anogan.score(q)
    assert torch.allclose(s, loss)
    assert torch.allclose(anogan.score(q[:3]), s[:3], atol=1e-5)  # alone or with others: the same
    # by hand at z: (1 - lam) |x - G(z)|_1 + lam |f(x) - f(G(z))|_1, in the networks' units
    xs = anogan._in(q)
    with torch.no_grad():
        g = anogan.G(z)
        hand = 0.9 * (xs - g).abs().sum(1) + 0.1 * (anogan.features(xs) - anogan.features(g)).abs().sum(1)
    assert torch.allclose(s, hand, atol=1e-5)
    # Γ = 0 scores the start z = 0; the search lowers the loss
    _, start = anogan.search(q, search_steps=0)
    assert (loss <= start + 1e-6).all() and loss.mean() < start.mean()


@pytest.fixture(scope="module")
def ganomaly():
    return methods.make("ganomaly", steps=30, seed=0, progress=False).fit(IMAGES)  # structure, not quality


def test_ganomaly_score_is_the_latent_gap_in_eval_mode(ganomaly):
    q = torch.rand(6, 1, 28, 28) * 2 - 1
    s = ganomaly.score(q)
    with torch.no_grad():
        z = ganomaly.G_E(q)
        hand = (z - ganomaly.E(ganomaly.G_D(z))).norm(dim=1)
    assert torch.allclose(s, hand, atol=1e-5)
    assert torch.allclose(ganomaly.score(q[:1]), s[:1], atol=1e-5)  # batch norm uses running stats
    assert ganomaly.reconstruct(q).shape == q.shape
    assert set(ganomaly.history) >= {"adv", "con", "enc", "discriminator"}
    with pytest.raises(NotImplementedError, match="no generator"):  # its decoder needs real codes
        ganomaly.sample(4)


def test_minmax_by_hand():
    assert metrics.minmax([2.0, 4.0, 3.0]).tolist() == [0.0, 1.0, 0.5]
    assert metrics.minmax([1.0, 1.0]).tolist() == [0.0, 0.0]


@pytest.mark.parametrize("score_loss", ["bce", "fm"])
def test_egbad_score_combines_reconstruction_and_discriminator(score_loss, tmp_path):
    det = methods.make("egbad", steps=100, score_loss=score_loss, generator_loss="fm", residual=1.0,
                       seed=0, progress=False).fit(X)
    q = TOY.sample(10, seed=6)
    parts = det.score_parts(q)
    s = det.score(q)
    assert torch.allclose(s, 0.9 * parts["reconstruction"] + 0.1 * parts["discriminator"], atol=1e-5)
    if score_loss == "bce":
        with torch.no_grad():
            xs = det._in(q)
            logit = det.D(xs, det.E(xs)).reshape(-1)
        assert torch.allclose(parts["discriminator"], F.softplus(-logit), atol=1e-5)
    assert torch.allclose(det.score(q[:2]), s[:2], atol=1e-5)
    again = methods.load(det.save(tmp_path / "egbad.pt"))
    assert torch.allclose(again.score(q), s)


@pytest.mark.parametrize("method, config, match", [
    ("knn", {"k": 0}, "k must be an int >= 1"),
    ("knn", {"space": "vgg"}, "unknown space 'vgg'"),
    ("anogan", {"lam": 1.5}, r"must lie in \[0, 1\], got 1.5"),
    ("anogan", {"search_steps": -1}, "search_steps must be an int >= 0"),
    ("egbad", {"generator_loss": "wgan"}, "unknown generator_loss 'wgan'"),
    ("egbad", {"alpha": -0.1}, "alpha must be a non-negative weight"),
    ("ganomaly", {"w_con": -50.0}, "w_con must be a non-negative weight"),
])
def test_config_errors(method, config, match):
    with pytest.raises(ValueError, match=match):
        methods.make(method, **config)


def test_anogan_reconstruct_reuses_the_search_and_reloads_in_eval_mode(anogan, tmp_path):
    q = TOY.sample(8, seed=6)
    z, _ = anogan.search(q)
    assert torch.allclose(anogan.reconstruct(q, z=z), anogan.reconstruct(q), atol=1e-6)
    assert anogan.sample(5, seed=1).shape == (5, 2) and torch.equal(anogan.sample(5, seed=1), anogan.sample(5, seed=1))
    again = methods.load(anogan.save(tmp_path / "anogan.pt"))  # networks rebuilt in train mode
    assert torch.allclose(again.search(q)[1], anogan.search(q)[1], atol=1e-5)  # search() sets eval
    with pytest.raises(RuntimeError, match="fit"):
        methods.make("anogan").search(q)


def test_fit_score_times_saves_and_reloads_a_run(tmp_path, monkeypatch):
    split = data.toy_split(TOY, 100, 100, seed=0, n_train=500)
    first = methods.fit_score(methods.make("knn", k=3), split.train_x, split.test_x, where=tmp_path / "knn")
    assert torch.equal(first["scores"], first["det"].score(split.test_x))
    assert first["train_seconds"] > 0 and first["test_seconds_per_1000"] > 0
    assert (tmp_path / "knn" / "result.pt").exists() and (tmp_path / "knn" / "detector.pt").exists()

    def no_fit(self, data):
        raise AssertionError("a saved run must be reloaded, not refitted")

    monkeypatch.setattr(methods.Detector, "fit", no_fit)
    again = methods.fit_score(methods.make("knn", k=3), split.train_x, split.test_x, where=tmp_path / "knn")
    assert torch.equal(again["scores"], first["scores"])
    assert again["train_seconds"] == first["train_seconds"]
    assert torch.equal(again["det"].score(split.test_x), first["scores"])
    with pytest.raises(ValueError, match="another run"):  # another config in the same folder
        methods.fit_score(methods.make("knn", k=4), split.train_x, split.test_x, where=tmp_path / "knn")
    with pytest.raises(ValueError, match="another run"):  # another test set size
        methods.fit_score(methods.make("knn", k=3), split.train_x, split.test_x[:50], where=tmp_path / "knn")
