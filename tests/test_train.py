"""The training loop: seeding, NaN guard, history, checkpoint and resume."""
import pytest
import torch

from adlib import train


def _setup():
    net = torch.nn.Linear(2, 1)
    opt = torch.optim.Adam(net.parameters(), lr=0.05)

    def step(i):
        x = torch.randn(16, 2)  # draws from the global RNG: resume must restore it
        loss = ((net(x) - x.sum(1, keepdim=True)) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return {"mse": loss, "const": 1.0}

    return net, opt, step


def test_history_keeps_every_term_per_step():
    net, opt, step = _setup()
    torch.manual_seed(0)
    h = train.run(step, 30, state={"net": net}, seed=5, progress=False)
    assert set(h) == {"mse", "const"} and len(h["mse"]) == 30 and h["mse"][-1] < h["mse"][0]


def test_same_seed_same_numbers():
    runs = []
    for _ in range(2):
        torch.manual_seed(123)  # same initial weights
        net, opt, step = _setup()
        runs.append(train.run(step, 20, seed=7, progress=False)["mse"])
    assert runs[0] == runs[1]


def test_nan_guard_names_term_and_step():
    def step(i):
        return {"L0": 1.0, "L1": float("nan") if i == 3 else 0.5}

    with pytest.raises(train.NonFiniteLoss, match=r"'L1' is nan at step 3"):
        train.run(step, 10, progress=False)


def test_resume_gives_the_same_result_as_one_uninterrupted_run(tmp_path):
    torch.manual_seed(0)
    net, opt, step = _setup()
    full = train.run(step, 40, state={"net": net, "opt": opt}, seed=3, progress=False,
                     checkpoint=tmp_path / "a.pt", every=10)
    want = net.weight.detach().clone()

    torch.manual_seed(0)
    net, opt, step = _setup()
    train.run(step, 20, state={"net": net, "opt": opt}, seed=3, progress=False,
              checkpoint=tmp_path / "b.pt", every=10)
    torch.manual_seed(0)
    net, opt, step = _setup()  # a fresh process would start from fresh objects
    resumed = train.run(step, 40, state={"net": net, "opt": opt}, seed=3, progress=False,
                        checkpoint=tmp_path / "b.pt", every=10)
    assert torch.allclose(net.weight, want) and resumed["mse"] == full["mse"]


def test_finished_checkpoint_returns_without_training(tmp_path):
    net, opt, step = _setup()
    train.run(step, 5, state={"net": net}, progress=False, checkpoint=tmp_path / "c.pt")
    calls = []
    h = train.run(lambda i: calls.append(i) or {"x": 0.0}, 5, state={"net": net},
                  progress=False, checkpoint=tmp_path / "c.pt")
    assert calls == [] and len(h["mse"]) == 5


def test_checkpoint_from_other_settings_is_refused(tmp_path):
    net, opt, step = _setup()
    train.run(step, 5, state={"net": net}, progress=False, checkpoint=tmp_path / "d.pt",
              meta={"lambda1": 0.1})
    with pytest.raises(ValueError, match="other settings"):
        train.run(step, 10, state={"net": net}, progress=False, checkpoint=tmp_path / "d.pt",
                  meta={"lambda1": 0.2})


def test_bad_arguments():
    with pytest.raises(ValueError, match="steps"):
        train.run(lambda i: {}, -1)
    with pytest.raises(ValueError, match="seed"):
        train.seed_everything(-3)


def test_callback_every_k_steps_cannot_change_the_run_and_can_stop_it(tmp_path):
    torch.manual_seed(0)
    net, opt, step = _setup()
    plain = train.run(step, 40, state={"net": net}, seed=3, progress=False)
    w_plain = net.weight.detach().clone()

    seen = []

    def meddle(p):  # draws from the RNG and flips the net to eval: the run must not notice
        seen.append((p.step, len(p.history["mse"]), p.state["net"] is net2))
        torch.randn(100)
        net2.eval()

    torch.manual_seed(0)
    net2, opt2, step2 = _setup()
    watched = train.run(step2, 40, state={"net": net2}, seed=3, progress=False, callback=meddle,
                        callback_every=15)
    assert seen == [(15, 15, True), (30, 30, True), (40, 40, True)]  # every k steps and the last
    assert watched == plain and torch.equal(net2.weight, w_plain) and net2.training

    torch.manual_seed(0)
    net3, opt3, step3 = _setup()
    hist = {}
    with train.watch(lambda p: p.step >= 20, every=10), pytest.raises(train.Stopped) as stop:
        train.run(step3, 40, state={"net": net3}, seed=3, progress=False, history=hist,
                  checkpoint=tmp_path / "c.pt")
    p = stop.value.progress
    assert (p.step, p.steps) == (20, 40) and "stopped at step 20 of 40" in str(stop.value)
    assert hist["mse"] == plain["mse"][:20] and len(hist["const"]) == 20  # consistent up to the stop
    # the checkpoint holds the stop: a run without the watch resumes it to the same end
    resumed = train.run(step3, 40, state={"net": net3}, seed=3, progress=False, checkpoint=tmp_path / "c.pt")
    assert resumed == plain and torch.equal(net3.weight, w_plain)
