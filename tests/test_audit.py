"""The gradient-obfuscation audit: estimator swaps, tracked PGD, zero gradients, the authors' BN leak, caching."""

import pytest
import torch
import torch.nn.functional as F
from spikingjelly.activation_based import surrogate

from snnlib import audit, results
from snnlib.attacks import EOTPGD, PGD, ThreatModel, acc_at, pgd_track
from snnlib.authors import authors_loop
from snnlib.encoding import PhaseEncoder
from snnlib.errors import SnnlibError
from snnlib.models import SpikingClassifier, build_model, spiking_neurons


def bn_state(model):
    return {n: b.clone() for n, b in model.named_buffers() if n.endswith(("running_mean", "running_var"))}


def pixel_grad(model, x, y):
    x = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(F.cross_entropy(model(x), y), x)
    return g


@pytest.fixture
def lively_model():
    """A tiny SEW-ResNet whose BN running stats have seen data, so gradients are non-trivial."""
    torch.manual_seed(0)
    m = SpikingClassifier(build_model("sew_resnet18", 10, width=4), PhaseEncoder())
    g = torch.Generator().manual_seed(1)
    m.train()
    with torch.no_grad():
        for _ in range(3):
            m(torch.rand(8, 3, 32, 32, generator=g))
    return m.eval()


def test_swap_surrogate_restores_even_on_error(lively_model, images):
    x, y = images
    originals = [m.surrogate_function for _, m in spiking_neurons(lively_model)]
    g0 = pixel_grad(lively_model, x, y)
    with pytest.raises(RuntimeError, match="boom"):
        with audit.swap_surrogate(lively_model, "atan-8"):
            assert all(isinstance(m.surrogate_function, surrogate.ATan) and m.surrogate_function.alpha == 8
                       for _, m in spiking_neurons(lively_model))
            assert not torch.equal(pixel_grad(lively_model, x, y), g0)  # the backward really changed
            raise RuntimeError("boom")
    assert [m.surrogate_function for _, m in spiking_neurons(lively_model)] == originals
    assert torch.equal(pixel_grad(lively_model, x, y), g0)


def test_estimators_change_backward_not_forward(lively_model, images):
    x, y = images
    with torch.no_grad():
        logits = lively_model(x)
    for name in audit.ESTIMATORS:
        with audit.estimator(lively_model, name), torch.no_grad():
            assert torch.equal(lively_model(x), logits), name
    with audit.estimator(lively_model, "encoder-none"):
        g, _ = ThreatModel(lively_model).grad(x, y)
        assert torch.count_nonzero(g) == 0  # phase coding's true gradient is zero
    assert lively_model.encoder.grad == "ste"
    assert not any(m._forward_hooks for _, m in spiking_neurons(lively_model))  # RGA hooks removed


def test_rate_gradient_of_one_if_layer():
    """RGA-style backward: output gradient times 1/theta where 0 < mean input < theta, else 0."""
    net = build_model("sew_resnet18", 10, width=2)
    _, neuron = spiking_neurons(net)[0]
    x = torch.tensor([0.5, 1.5, -0.2, 0.0]).repeat(4, 1).requires_grad_(True)  # [T=4, 4 neurons]
    with audit.rate_gradient(net):
        neuron.reset()
        s = neuron(x)
        (g,) = torch.autograd.grad(s.sum(), x)
    assert torch.equal(g, torch.tensor([1.0, 0.0, 0.0, 0.0]).repeat(4, 1))
    neuron.reset()


def test_zero_gradient_stats_constructed():
    g = torch.zeros(4, 3, 2, 2)
    g[1, 0, 0, 0] = 1.0  # sample 1: one non-zero entry
    g[3] = -2.0  # sample 3: dense
    s = audit.zero_gradient_stats(g)
    assert s["n"] == 4 and s["all_zero"] == 2 and s["all_zero_frac"] == 0.5
    assert s["zero_frac"] == pytest.approx((12 + 11 + 12 + 0) / 48)
    spikes = g.unsqueeze(0).expand(2, -1, -1, -1, -1).transpose(0, 1).contiguous().transpose(0, 1)  # [T,B,...]
    assert audit.zero_gradient_stats(spikes, batch_dim=1)["all_zero"] == 2


def test_zero_gradients_of_no_samples(lively_model):
    """An empty attacked set (no image classified correctly) gives n=0, not a crash."""
    g = audit.input_grads(ThreatModel(lively_model), torch.rand(0, 3, 32, 32), torch.zeros(0, dtype=torch.long), 4)
    assert g is None and audit.zero_gradient_stats(g)["n"] == 0


def test_worst_case_is_per_sample_min():
    robust = {"a": torch.tensor([1, 1, 0, 1]), "b": torch.tensor([1, 0, 1, 1]), "c": [True, True, True, False]}
    assert audit.worst_case(robust).tolist() == [True, False, False, False]
    # the worst case can be below every single attack's accuracy
    assert audit.worst_case(robust).float().mean() < min(torch.as_tensor(v).float().mean() for v in robust.values())
    with pytest.raises(SnnlibError):
        audit.worst_case({})


def test_pgd_track_matches_untracked_trajectory():
    """On a linear model, the tracked run's first broken step agrees with running PGD-k for every k."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 3)).eval()
    x, y = torch.rand(16, 3, 2, 2), torch.randint(0, 3, (16,))
    threat = ThreatModel(model)
    tr = pgd_track(threat, x, y, eps=0.1, alpha=0.02, steps=6, generator=torch.Generator().manual_seed(3))
    b = tr["broken_at"][0]
    assert ((b >= 0) & (b <= 7)).all()
    for k in range(1, 7):  # PGD-k's last iterate is misclassified => tracked run broke it at or before k
        adv = PGD(threat, 0.1, 0.02, k, generator=torch.Generator().manual_seed(3))(x, y)
        fooled = model(adv).argmax(1) != y
        assert (b[fooled] <= k).all()
    accs = [acc_at(tr, k).float().mean() for k in range(7)]
    assert all(a >= c for a, c in zip(accs, accs[1:]))  # more steps never help the model


def test_pgd_track_zero_gradient_stalls(lively_model, images):
    x, y = images
    with audit.estimator(lively_model, "encoder-none"):
        tr = pgd_track(ThreatModel(lively_model), x, y, steps=5, restarts=2,
                             generator=torch.Generator().manual_seed(0))
    b = tr["broken_at"]
    assert ((b[0] == 0) | (b[0] == 6)).all()  # only the random start can break a sample
    assert (tr["stalled"][0] == (b[0] == 6)).all()
    with pytest.raises(SnnlibError, match="bn='eval'"):
        pgd_track(ThreatModel(lively_model, bn="train"), x, y, steps=1)


def test_authors_loop_leaks_bn_stats_snnlib_path_does_not(lively_model, images):
    x, y = images
    before = bn_state(lively_model)
    # snnlib's authors' threat model (spike + BN train) restores the statistics
    PGD(ThreatModel.preset(lively_model, "authors"), 8 / 255, steps=2, generator=torch.Generator().manual_seed(0))(x, y)
    assert all(torch.equal(before[k], v) for k, v in bn_state(lively_model).items())
    # the authors' loop on a copy: model untouched, but the copy drifted
    r = authors_loop(lively_model, x, y, steps=2, batch_size=2, generator=torch.Generator().manual_seed(0))
    assert all(torch.equal(before[k], v) for k, v in bn_state(lively_model).items())
    assert max(r["bn_drift"].values()) > 0
    with torch.no_grad():
        clean = lively_model(x).argmax(1) == y
    assert torch.equal(r["clean"], clean)  # "no leak" predictions use the model's own statistics
    # in place, as their code does: the running statistics change
    authors_loop(lively_model, x, y, steps=2, batch_size=2, generator=torch.Generator().manual_seed(0),
                       inplace=True)
    assert any(not torch.equal(before[k], v) for k, v in bn_state(lively_model).items())


def test_red_flags_and_verdict_from_a_constructed_result():
    t = [1, 1, 1, 1]
    r = {"n_eval": 4, "attacks": [
        {"attack": "clean", "group": "clean", "acc": 1.0}, {"attack": "FGSM", "group": "one-step", "acc": 0.25},
        {"attack": "PGD-7 (paper)", "group": "paper", "acc": 0.5}, {"attack": "PGD-1", "group": "steps", "acc": 0.5},
        {"attack": "PGD-2", "group": "steps", "acc": 0.5}, {"attack": "Square", "group": "black-box", "acc": 0.75},
        {"attack": "random noise", "group": "noise", "acc": 0.75}],
        "per_sample": {"clean": t, "PGD-7 (paper)": [1, 1, 0, 0], "random noise": [0, 1, 1, 1]},
        "ladder": {"rungs": [1, 2]}, "sweep": [{"eps": 0.25, "eps_255": 64, "acc": 0.25, "n_robust": 1}],
        "zero_gradients": [{"space": "pixel", "n": 4, "all_zero": 0, "zero_frac": 0.1}],
        "final": {"n_eval": 4, "clean_acc": 1.0, "pgd7_acc": 0.5, "worst_acc": 0.0, "gap": 0.5,
                  "strongest_single": "FGSM", "strongest_single_acc": 0.25}}
    fired = {x["flag"]: x["fired"] for x in audit.red_flags(r)}
    assert fired == {"one_step_beats_iterative": True, "black_box_beats_white_box": False,
                     "unbounded_eps_not_100": True, "random_noise_finds": True,
                     "more_steps_keep_helping": False, "zero_gradients": False}
    r["flags"] = audit.red_flags(r)
    assert "artifact" in audit.verdict(r, "toy")


def tiny_cfg(cifar_dir):
    from snnlib import config

    sets = [f"data.dataset=imagefolder:{cifar_dir}", "data.n_per_class=6", "data.val_fraction=0.34",
            "data.test_per_class=1", "data.eval_per_class=1", "model.width=2", "train.epochs=1",
            "train.batch_size=8", "profile=custom", "name=tiny"]
    return config.from_dict(config.apply_overrides({}, sets))


def test_run_config_end_to_end_and_cached(cifar_dir, monkeypatch):
    cfg = tiny_cfg(cifar_dir)
    s = audit.AuditSettings(n_eval=10, batch_size=5, ladder_steps=[1, 3], ladder_restarts=2, sweep_eps=[8 / 255, 0.5],
                            sweep_steps=2, estimators=["atan-2", "rga", "encoder-none"], estimator_steps=1,
                            apgd_steps=2, square_queries=3, transfer_steps=1, noise_draws=1, authors_batch_size=4,
                            ann_twin=None)
    r = audit.run_config(cfg, settings=s)
    assert r["kind"] == "audit" and r["n_eval"] == 10 and r["sources"]["ann"].startswith("tiny_ann-")
    names = {a["attack"] for a in r["attacks"]}
    assert {"FGSM", "PGD-7 (paper)", "PGD-3", "PGD-3 x2", "APGD-CE", "APGD-DLR", "Square", "transfer: ANN twin",
            "random noise"} <= names and "PGD-1 [rga]" in names
    wc = torch.tensor(r["per_sample"]["worst case"])
    assert r["final"]["worst_acc"] == wc.float().mean().item()
    assert r["final"]["worst_acc"] <= min(a["acc"] for a in r["attacks"] if a["in_worst_case"])
    assert r["eot"]["deterministic"] and len(r["switches"]) == 4 and "pgd_leak" in r["authors_loop"]
    assert r["result_file"].endswith(f"audit-{r['audit_key'][:10]}.json")
    monkeypatch.setattr(audit, "run_suite", lambda *a, **k: pytest.fail("recomputed a cached audit"))
    again = audit.run_config(cfg, settings=s)
    assert again["env"]["time"] == r["env"]["time"] and again["result_file"] == r["result_file"]
    assert set(audit.summary_table({"tiny": again}).columns) >= {"clean", "PGD-7 (paper)", "worst case", "gap"}
    for table in (audit.flags_table, audit.leak_table, audit.switch_table, audit.zero_grad_table,
                  audit.estimator_table, audit.ladder_frame, audit.sweep_frame, audit.attack_frame):
        assert len(table({"tiny": again}))
    assert results.read_json(r["result_file"])["final"] == again["final"]
    assert len(audit.settings_table(audit.AuditSettings.from_dict(again["settings"]))) > 5
    assert isinstance(audit.fired_for({"tiny": again}, "one_step_beats_iterative"), str)


def test_eot_only_for_stochastic_encoders(lively_model, images):
    from snnlib.encoding import RateEncoder

    x, y = images
    assert audit.is_deterministic(lively_model, x)  # phase coding
    rate = SpikingClassifier(lively_model.net, RateEncoder(T=4)).eval()
    assert not audit.is_deterministic(rate, x)
    adv = EOTPGD(ThreatModel(rate), eps=8 / 255, steps=2, samples=2, generator=torch.Generator().manual_seed(0))(x, y)
    assert (adv - x).abs().max() <= 8 / 255 + 1e-6 and adv.min() >= 0 and adv.max() <= 1
