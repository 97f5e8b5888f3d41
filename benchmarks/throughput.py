"""Training and scoring throughput of every image method: the kit's ``fit`` against the same
networks, losses and batches in a bare PyTorch loop (no ``adlib.train``, no fit skeleton).

    .venv/bin/python benchmarks/throughput.py                          # every method, MNIST and CIFAR-10 shapes
    .venv/bin/python benchmarks/throughput.py --methods ganomaly anogan --steps 30 --device cpu
    .venv/bin/python benchmarks/throughput.py --json runs/benchmarks/throughput.json

For each method (bdsg-flow, tailgan, omasgan, historyad, anogan, egbad, ganomaly) and image
shape (MNIST 1x28x28, CIFAR-10 3x32x32), at the method's image defaults with ``--steps``
steps per training loop (each stage of a multi-stage method; HistoryAD's WGAN-GP gets two
epochs of ``--steps / 2`` generator steps), on random images in [-1, 1]:

* ``kit_samples_per_s``: training rows / s through ``adlib.methods.make(...).fit(x)``,
* ``bare_samples_per_s``: the same work written as a plain loop below, with ``adlib.nets``,
  the same losses (``adlib.divergences``, ``adlib.boundary``, HistoryAD's eq. 10) and zuko,
* ``ratio`` = kit / bare (the kit's overhead; the target is >= 0.9),
* ``score_samples_per_s``: ``det.score`` on ``--score-n`` images (AnoGAN: its Γ = 500 search),
* ``peak_mb``: peak CUDA memory allocated on a GPU, the process's peak resident memory on
  the CPU (each row runs in its own process, so the peaks are per method and shape).

"Training rows" are steps x batch summed over a method's training loops (both sides count
the same). Each timing is the best of ``--repeats`` runs after a short warm-up, kit and
bare alternating. Not a test: speed belongs here and in the README, not in pytest.
"""
from __future__ import annotations

import argparse
import copy
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import zuko

from adlib import devices, divergences, methods, nets
from adlib.boundary import bdsg_terms, scattering, set_distance, tailgan_terms
from adlib.methods.historyad import average_state_dicts, history_times, tv_loss

METHODS = ("bdsg-flow", "tailgan", "omasgan", "historyad", "anogan", "egbad", "ganomaly")
SHAPES = {"mnist": (1, 28, 28), "cifar10": (3, 32, 32)}
N_TRAIN = 2048


def kit_config(method: str, steps: int) -> tuple[str, dict]:
    """The kit's method name and options: image defaults, ``steps`` per training loop."""
    return {
        "bdsg-flow": ("bdsg", {"density": "flow", "flow": {"steps": steps}, "steps": steps}),
        "tailgan": ("tailgan", {"flow": {"steps": steps}, "steps": steps}),
        "omasgan": ("omasgan", {"steps": (steps,) * 4}),
        "historyad": ("historyad", {"epochs": 2, "tv_steps": steps}),
        "anogan": ("anogan", {"steps": steps}),
        "egbad": ("egbad", {"steps": steps}),
        "ganomaly": ("ganomaly", {"steps": steps}),
    }[method]


def n_train(method: str, steps: int) -> int:
    # HistoryAD's epoch is len(x) // batch generator steps: two epochs of steps / 2
    return 64 * max(1, steps // 2) if method == "historyad" else N_TRAIN


def rows(method: str, steps: int) -> int:
    """Training rows (steps x batch over every loop), the same for kit and bare."""
    return {"bdsg-flow": steps * (512 + 256), "tailgan": steps * (512 + 256), "omasgan": 4 * steps * 256,
            "historyad": 2 * max(1, steps // 2) * 64 + steps * 64}.get(method, steps * 64)


def adam(params, lr, betas=(0.9, 0.999)):
    return torch.optim.Adam(params, lr=lr, betas=betas)


def step_of(opt, loss):
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss


# -- the bare loops: the kit's image defaults, written out ------------------------------------
def bare_flow(x, steps, dev):
    """RealNVP (5 layers, 512x512) by maximum likelihood, as adlib.density.Flow does on images:
    one global mean / scale, dequantisation 2/255, Adam 1e-3, batch 512, gradient clip 50."""
    x = x.reshape(len(x), -1)
    dim, noise = x.shape[1], 2 / 255
    torch.manual_seed(0)
    flow = zuko.flows.RealNVP(features=dim, context=0, transforms=5, hidden_features=[512, 512]).to(dev)
    mean = (x.mean() + noise / 2).expand(dim)
    std = (x.var() + noise**2 / 12).sqrt().clamp_min(1e-3).expand(dim)
    log_prob = lambda v: flow().log_prob((v - mean) / std) - std.log().sum()
    opt = adam(flow.parameters(), 1e-3)
    for _ in range(steps):
        xb = x[torch.randint(len(x), (512,), device=dev)]
        nll = -log_prob(xb + noise * torch.rand_like(xb)).mean()
        opt.zero_grad()
        nll.backward()
        torch.nn.utils.clip_grad_norm_(flow.parameters(), 50.0)
        opt.step()
    flow.requires_grad_(False)
    return flow, mean, std, log_prob


def bare_bdsg_flow(x, steps, dev):
    flow, mean, std, log_prob = bare_flow(x, steps, dev)
    dim = x[0].numel()
    B = nets.mlp([64, 256, 256, dim]).to(dev)
    opt = adam(B.parameters(), 1e-3)
    xf = x.reshape(len(x), -1)
    for _ in range(steps):
        z = torch.randn(256, 64, device=dev)
        xs = xf[torch.randperm(len(xf), device=dev)[:1024]]
        t = bdsg_terms(B(z).reshape(256, *x.shape[1:]), z, xs, lambda v: log_prob(v.reshape(len(v), -1)) / dim)
        step_of(opt, t["L0"] + 0.3 * t["L1"] + 0.025 * t["L2"])


def bare_tailgan(x, steps, dev):
    flow, mean, std, log_prob = bare_flow(x, steps, dev)
    dim = x[0].numel()
    T = copy.deepcopy(flow).requires_grad_(True)
    opt = adam(T.parameters(), 1e-4)
    xf = x.reshape(len(x), -1)
    for _ in range(steps):
        z = torch.randn(256, dim, device=dev)
        xs = xf[torch.randperm(len(xf), device=dev)[:1024]]
        t = tailgan_terms(T().transform.inv(z) * std + mean, z, xs, lambda v: log_prob(v) / dim)
        step_of(opt, t["Lpr"] + 0.2 * t["Ld"] + 0.01 * t["Le"] + 0.01 * t["Lsc"])


def bare_omasgan(x, steps, dev):
    """Tasks 1-3 and J at the image defaults: KL-WGAN, 5 critic steps, N 256, Q 1024, z 128."""
    shape, n, zd = x.shape[1:], 256, 128
    div = divergences.get("klwgan")
    gen = lambda: nets.generator(zd, shape).to(dev)
    crit = lambda: nets.critic(shape).to(dev)
    opt = lambda m: adam(m.parameters(), 2e-4, (0.5, 0.999))
    z = lambda k: torch.randn(k, zd, device=dev)
    batch = lambda: x[torch.randint(len(x), (n,), device=dev)]
    G, D = gen(), crit()
    og, od = opt(G), opt(D)
    for _ in range(steps):
        for _ in range(5):
            step_of(od, div.critic_loss(D, batch(), G(z(n)).detach()))
        step_of(og, div.generator_loss(D(G(z(n)))))
    G.eval().requires_grad_(False)
    t, B = crit(), copy.deepcopy(G).requires_grad_(True)
    ob, ot = opt(B), opt(t)
    for _ in range(steps):
        g = G(z(n))
        for _ in range(5):
            step_of(ot, div.critic_loss(t, B(z(n)).detach(), g))
        zz = z(n)
        b = B(zz)
        m = div.estimate(t(b), t(g))
        step_of(ob, -m + 0.2 * set_distance(b, G(z(1024))).mean() + 0.3 * scattering(zz, b).mean())
    B.eval().requires_grad_(False)
    C, G2 = crit(), copy.deepcopy(G).requires_grad_(True)
    oc, og2 = opt(C), opt(G2)
    for _ in range(steps):
        with torch.no_grad():
            b, g = B(z(n)), G(z(n))
        gain = (0.5 * F.logsigmoid(C(batch())).mean() + F.logsigmoid(-C(G2(z(n)).detach())).mean()
                + 0.7 * F.logsigmoid(-C(b)).mean() + 0.2 * F.logsigmoid(C(g)).mean())
        step_of(oc, -gain)
        step_of(og2, -F.logsigmoid(C(G2(z(n)))).mean())
    G2.eval().requires_grad_(False)
    J = crit()
    oj = opt(J)
    for _ in range(steps):
        with torch.no_grad():
            b, g2 = B(z(n)), G2(z(n))
        step_of(oj, -(0.5 * F.logsigmoid(-J(batch())).mean() + 0.5 * F.logsigmoid(-J(g2)).mean()
                      + F.logsigmoid(J(b)).mean()))


def bare_historyad(x, steps, dev):
    """WGAN-GP (5 critic steps, Adam 5e-4 -> 0, beta1 0.5) saving (G_t, D_t) every step,
    P_Ghist pool (alpha 1, beta 3) from the saves, D_TV from the averaged critics, eq. 10."""
    shape, n, zd, epochs = x.shape[1:], 64, 100, 2
    per_epoch = len(x) // n
    total = epochs * per_epoch
    wgan = divergences.get("wgan-gp")
    G, D = nets.generator(zd, shape).to(dev), nets.critic(shape).to(dev)
    og, od = adam(G.parameters(), 5e-4, (0.5, 0.9)), adam(D.parameters(), 5e-4, (0.5, 0.9))
    scheds = [torch.optim.lr_scheduler.LambdaLR(o, lambda i: max(0.0, 1 - i / total)) for o in (og, od)]
    saves = []
    for i in range(total):
        for _ in range(5):
            step_of(od, wgan.critic_loss(D, G(torch.randn(n, zd, device=dev)).detach(),
                                         x[torch.randint(len(x), (n,), device=dev)]))
        step_of(og, D(G(torch.randn(n, zd, device=dev))).mean())
        for s in scheds:
            s.step()
        saves.append(((i + 1) / per_epoch, {k: {a: v.detach().cpu().clone() for a, v in m.state_dict().items()}
                                            for k, m in (("G", G), ("D", D))}))
    G.eval().requires_grad_(False)
    times = torch.tensor([t for t, _ in saves])
    keep = ((times >= 1.0) & (times <= epochs)).nonzero().flatten()
    D_tv = nets.critic(shape).to(dev)
    D_tv.load_state_dict(average_state_dicts([saves[k][1]["D"] for k in keep.tolist()],
                                             torch.exp(-3.0 * (times[keep] - 1.0))))
    t = history_times(len(x), 1.0, 3.0, epochs)
    k = (torch.searchsorted(times, t, right=True) - 1).clamp(min=0)
    zz = torch.randn(len(x), zd).to(dev)
    pool, Gk = torch.empty_like(x), copy.deepcopy(G)
    for j in torch.unique(k).tolist():
        rows_j = (k == j).to(dev)
        Gk.load_state_dict(saves[j][1]["G"])
        with torch.no_grad():
            pool[rows_j] = Gk(zz[rows_j])
    opt = adam(D_tv.parameters(), 1e-3, (0.5, 0.9))
    for _ in range(steps):
        step_of(opt, tv_loss(D_tv(x[torch.randint(len(x), (n,), device=dev)]).reshape(-1),
                             D_tv(pool[torch.randint(len(pool), (n,), device=dev)]).reshape(-1), 10.0))


def bare_anogan(x, steps, dev):
    shape, n, zd = x.shape[1:], 64, 100
    js = divergences.get("js")
    G, D = nets.generator(zd, shape).to(dev), nets.critic(shape).to(dev)
    og, od = adam(G.parameters(), 2e-4, (0.5, 0.999)), adam(D.parameters(), 2e-4, (0.5, 0.999))
    for _ in range(steps):
        step_of(od, js.critic_loss(D, x[torch.randint(len(x), (n,), device=dev)],
                                   G(torch.randn(n, zd, device=dev)).detach()))
        step_of(og, js.generator_loss(D(G(torch.randn(n, zd, device=dev)))))


def bare_egbad(x, steps, dev):
    shape, n, zd = x.shape[1:], 64, 100
    G, E = nets.generator(zd, shape).to(dev), nets.encoder(shape, zd).to(dev)
    D = nets.JointCritic(shape, zd, width=512).to(dev)
    oge = adam([*G.parameters(), *E.parameters()], 2e-4, (0.5, 0.999))
    od = adam(D.parameters(), 2e-4, (0.5, 0.999))
    bce = F.binary_cross_entropy_with_logits
    for _ in range(steps):
        xb, z = x[torch.randint(len(x), (n,), device=dev)], torch.randn(n, zd, device=dev)
        ex, gz = E(xb), G(z)
        real, fake = D(xb, ex.detach()), D(gz.detach(), z)
        step_of(od, bce(real, torch.ones_like(real)) + bce(fake, torch.zeros_like(fake)))
        real, fake = D(xb, ex), D(gz, z)
        step_of(oge, bce(real, torch.zeros_like(real)) + bce(fake, torch.ones_like(fake)))


def bare_ganomaly(x, steps, dev):
    shape, n, zd = x.shape[1:], 64, 100
    GE, GD, E, D = (nets.encoder(shape, zd).to(dev), nets.generator(zd, shape).to(dev),
                    nets.encoder(shape, zd).to(dev), nets.critic(shape).to(dev))
    og = adam([*GE.parameters(), *GD.parameters(), *E.parameters()], 2e-4, (0.5, 0.999))
    od = adam(D.parameters(), 2e-4, (0.5, 0.999))
    js, f = divergences.get("js"), D[:-1]
    for _ in range(steps):
        xb = x[torch.randint(len(x), (n,), device=dev)]
        z = GE(xb)
        x_hat = GD(z)
        z_hat = E(x_hat)
        loss = ((f(xb).detach() - f(x_hat)).pow(2).mean() + 50 * (xb - x_hat).abs().mean()
                + (z - z_hat).pow(2).mean())
        step_of(og, loss)
        step_of(od, js.critic_loss(D, xb, x_hat.detach()))


BARE = {"bdsg-flow": bare_bdsg_flow, "tailgan": bare_tailgan, "omasgan": bare_omasgan,
        "historyad": bare_historyad, "anogan": bare_anogan, "egbad": bare_egbad, "ganomaly": bare_ganomaly}


# -- one row, in its own process --------------------------------------------------------------
def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def one(method: str, dataset: str, steps: int, device: str, repeats: int, score_n: int) -> dict:
    dev = devices.resolve(device)
    shape = SHAPES[dataset]
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n_train(method, steps), *shape, generator=g) * 2 - 1
    test = torch.rand(score_n, *shape, generator=g) * 2 - 1
    name, config = kit_config(method, steps)
    warm = max(2, steps // 10)

    def kit(k):
        det = methods.make(name, **kit_config(method, k)[1], progress=False, device=device, seed=0)
        sync(dev)
        t0 = time.perf_counter()
        det.fit(x)
        sync(dev)
        return time.perf_counter() - t0, det

    def bare(k):
        torch.manual_seed(0)
        sync(dev)
        t0 = time.perf_counter()
        bare_fn(x.to(dev), k, dev)  # the training tensor moves once, as in the kit
        sync(dev)
        return time.perf_counter() - t0

    bare_fn = BARE[method]
    kit(warm), bare(warm)  # warm-up: allocator, kernels, thread pools
    kit_s, bare_s, det = [], [], None
    for _ in range(repeats):
        t, det = kit(steps)
        kit_s.append(t)
        bare_s.append(bare(steps))
    sync(dev)
    t0 = time.perf_counter()
    det.score(test)
    sync(dev)
    score_s = time.perf_counter() - t0
    peak = (torch.cuda.max_memory_allocated(dev) / 2**20 if dev.type == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    kit_rate, bare_rate = rows(method, steps) / min(kit_s), rows(method, steps) / min(bare_s)
    return {"method": method, "shape": "x".join(map(str, shape)), "device": str(dev),
            "kit_samples_per_s": kit_rate, "bare_samples_per_s": bare_rate, "ratio": kit_rate / bare_rate,
            "score_samples_per_s": score_n / score_s, "peak_mb": peak,
            "steps": steps, "repeats": repeats, "threads": torch.get_num_threads(),
            "kit_seconds": kit_s, "bare_seconds": bare_s}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    p.add_argument("--datasets", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    p.add_argument("--steps", type=int, default=20, help="steps per training loop (default 20)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--repeats", type=int, default=2, help="timed runs of kit and bare each; the best counts")
    p.add_argument("--score-n", type=int, default=256, help="images scored (one AnoGAN search chunk on the CPU)")
    p.add_argument("--json", help="write the rows to this file")
    p.add_argument("--one", nargs=2, metavar=("METHOD", "DATASET"), help=argparse.SUPPRESS)
    a = p.parse_args()
    devices.resolve(a.device)  # a bad device fails here, before any row starts
    if a.steps < 2 or a.repeats < 1:
        p.error("--steps must be >= 2 and --repeats >= 1")
    if a.one:
        print(json.dumps(one(*a.one, a.steps, a.device, a.repeats, a.score_n)))
        return
    out = []
    print(f"{'method':10s} {'shape':8s} {'device':7s} {'kit/s':>9s} {'bare/s':>9s} {'ratio':>6s} "
          f"{'score/s':>9s} {'peak MB':>8s}", flush=True)
    for method in a.methods:
        for dataset in a.datasets:
            cmd = [sys.executable, __file__, "--one", method, dataset, "--steps", str(a.steps),
                   "--device", a.device, "--repeats", str(a.repeats), "--score-n", str(a.score_n)]
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode != 0:
                print(f"{method:10s} {dataset:8s} FAILED\n{done.stderr[-2000:]}", flush=True)
                continue
            r = json.loads(done.stdout.strip().splitlines()[-1])
            out.append(r)
            print(f"{r['method']:10s} {r['shape']:8s} {r['device']:7s} {r['kit_samples_per_s']:9.0f} "
                  f"{r['bare_samples_per_s']:9.0f} {r['ratio']:6.2f} {r['score_samples_per_s']:9.1f} "
                  f"{r['peak_mb']:8.0f}", flush=True)
    if a.json:
        path = Path(a.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(out, indent=2))
        print("wrote", path)


if __name__ == "__main__":
    main()
