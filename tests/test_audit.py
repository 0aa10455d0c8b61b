"""The gradient-obfuscation audit: estimator swaps, tracked PGD, zero gradients, the authors' BN leak, caching."""

import pytest
import torch
import torch.nn.functional as F
from spikingjelly.activation_based import surrogate

from snnlib import audit, results
from snnlib.audit import records as R
from snnlib.audit.legacy import upgrade
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
            assert all(
                isinstance(m.surrogate_function, surrogate.ATan) and m.surrogate_function.alpha == 8
                for _, m in spiking_neurons(lively_model)
            )
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
    """RGA for IF neurons (Bu et al. 2023): output gradient times 1/(2 theta) where 0 <= mean input <= 2 theta."""
    net = build_model("sew_resnet18", 10, width=2)
    _, neuron = spiking_neurons(net)[0]
    x = torch.tensor([0.5, 1.5, -0.2, 0.0, 2.5]).repeat(4, 1).requires_grad_(True)  # [T=4, 5 neurons]
    with audit.rate_gradient(net):
        neuron.reset()
        s = neuron(x)
        (g,) = torch.autograd.grad(s.sum(), x)
    assert torch.equal(g, torch.tensor([0.5, 0.5, 0.0, 0.5, 0.0]).repeat(4, 1))
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
        tr = pgd_track(ThreatModel(lively_model), x, y, steps=5, restarts=2, generator=torch.Generator().manual_seed(0))
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
    authors_loop(lively_model, x, y, steps=2, batch_size=2, generator=torch.Generator().manual_seed(0), inplace=True)
    assert any(not torch.equal(before[k], v) for k, v in bn_state(lively_model).items())


def _result(n, ps, attacks, **extra):
    """A suite result with ``n`` images: every image clean-correct, per-sample outcomes ``ps`` (label -> bools).
    Written as results were before attack records had ids (rows and outcomes named by label), and read through
    the one-time reader, so these tests also check it."""
    groups = {"clean": "clean", **attacks}
    return upgrade(
        {
            "n_eval": n,
            "attacks": [
                {
                    "attack": k,
                    "group": g,
                    "eps": 8 / 255,
                    "acc": float(torch.tensor(ps[k]).float().mean()),
                    "in_worst_case": True,
                }
                for k, g in groups.items()
            ],
            "per_sample": {k: [int(v) for v in ps[k]] for k in ps},
            **extra,
        }
    )


def test_flags_need_a_significant_test_not_one_image():
    n = 20
    one = [1] * n
    near = [0] + [1] * (n - 1)  # one image apart
    far = [0] * 8 + [1] * (n - 8)  # eight images apart, all one way
    base = {
        "clean": one,
        "PGD-7 (paper)": one,
        "PGD-50": one,
        "PGD-200": near,
        "random noise": near,
        "FGSM": near,
        "Square-5": near,
    }
    attacks = {
        "FGSM": "one-step",
        "PGD-7 (paper)": "paper",
        "PGD-50": "steps",
        "PGD-200": "steps",
        "Square-5": "black-box",
        "random noise": "noise",
    }
    r = _result(
        n,
        base,
        attacks,
        ladder={"rungs": [50, 200]},
        sweep=[{"eps": 1.0, "eps_255": 255, "acc": 0.0, "n_robust": 0}],
        zero_gradients=[{"space": "pixel", "n": n, "all_zero": 1, "zero_frac": 0.05, "which": [3]}],
    )
    fired = {x["flag"]: x["fired"] for x in audit.red_flags(r)}
    assert not any(fired.values()), fired  # one image apart is never significant
    r2 = _result(
        n,
        {**base, "FGSM": far, "PGD-200": far, "random noise": far, "Square-5": [0] * 10 + [1] * 10},
        {**attacks, "PGD-200": "steps"},
        ladder={"rungs": [50, 200]},
        sweep=[{"eps": 1.0, "eps_255": 255, "acc": 0.5, "n_robust": 10}],
        zero_gradients=[{"space": "pixel", "n": n, "all_zero": 6, "zero_frac": 0.3, "which": list(range(6))}],
    )
    fired = {x["flag"]: x["fired"] for x in audit.red_flags(r2)}
    assert fired["one_step_beats_iterative"] and fired["more_steps_keep_helping"] and fired["random_noise_finds"]
    assert fired["unbounded_eps_not_100"] and fired["zero_gradients"]
    # the strongest white-box attack (PGD-200 or FGSM, 8 broken) against Square (10 broken): not significant
    assert not fired["black_box_beats_white_box"]


def test_summary_attribution_and_verdict():
    n = 30
    one = [1] * n
    pgd7 = [1] * 20 + [0] * 10
    strong = [1] * 5 + [0] * 25  # more steps break 15 more images
    r = audit.derive(
        _result(
            n,
            {"clean": one, "FGSM": one, "PGD-7 (paper)": pgd7, "PGD-200": strong, "PGD-10 [atan-8]": strong},
            {"FGSM": "one-step", "PGD-7 (paper)": "paper", "PGD-200": "steps", "PGD-10 [atan-8]": "estimator"},
        )
    )
    f = r["final"]
    assert f["worst"]["k"] == 5 and f["gap_test"]["a_only"] == 15 and f["gap_test"]["p"] < 0.05
    assert f["cause"] == "weak attack" and f["worst"]["lo"] <= 5 / 30 <= f["worst"]["hi"]
    rows = {a["group"]: a for a in r["attribution"]}
    assert rows["steps"]["paper_plus_group"]["k"] == 5 and not rows["estimator"]["needed"]
    text = audit.verdict(r, "toy", "quick profile")
    assert "weak attack" in text and "n=30" in text and "breaks 15 of 30 images" in text and "quick profile" in text
    # only an estimator breaks the extra images, and no masking flag can say why: mixed
    r = audit.derive(
        _result(
            n,
            {"clean": one, "FGSM": one, "PGD-7 (paper)": pgd7, "PGD-200": pgd7, "PGD-10 [atan-8]": strong},
            {"FGSM": "one-step", "PGD-7 (paper)": "paper", "PGD-200": "steps", "PGD-10 [atan-8]": "estimator"},
        )
    )
    assert r["final"]["cause"] == "mixed: cannot separate" and r["final"]["strongest_group"] == "estimator"
    # ... with the training surrogate's run as the estimators' base, the estimator flag fires: obfuscation
    r = audit.derive(
        _result(
            n,
            {
                "clean": one,
                "FGSM": one,
                "PGD-7 (paper)": pgd7,
                "PGD-200": pgd7,
                "PGD-10 [atan-2]": pgd7,
                "PGD-10 [atan-8]": strong,
            },
            {
                "FGSM": "one-step",
                "PGD-7 (paper)": "paper",
                "PGD-200": "steps",
                "PGD-10 [atan-2]": "estimator",
                "PGD-10 [atan-8]": "estimator",
            },
        )
    )
    assert r["final"]["cause"] == "gradient obfuscation" and "other_estimator_helps" in r["final"]["flags_fired"]


def test_cause_labels_from_nested_counts_and_flags():
    from snnlib.audit.verdict import cause

    assert cause(0, 0, 0, []) == "none"
    assert cause(5, 0, 0, []) == "weak attack"
    assert cause(5, 0, 0, ["more_steps_keep_helping"]) == "mixed: cannot separate"  # weak attack only without flags
    assert cause(5, 3, 0, []) == "stronger loss"  # DLR closes the gap: not obfuscation
    assert cause(5, 3, 0, ["random_noise_finds"]) == "mixed: cannot separate"
    assert cause(5, 3, 2, ["other_estimator_helps"]) == "gradient obfuscation"
    assert cause(5, 3, 2, []) == "mixed: cannot separate"


def test_black_box_flag_leaves_autoattack_out_and_zero_gradients_read_spikes():
    n = 20
    one, half = [1] * n, [0] * 10 + [1] * 10
    r = _result(
        n,
        {"clean": one, "PGD-7 (paper)": one, "AutoAttack (standard)": [0] * 12 + [1] * 8, "Square-5000": half},
        {"PGD-7 (paper)": "paper", "AutoAttack (standard)": "adaptive", "Square-5000": "black-box"},
        zero_gradients=[
            {"space": "pixel", "n": n, "all_zero": 0, "zero_frac": 0.0, "which": []},
            {"space": "spike", "n": n, "all_zero": 6, "zero_frac": 0.3, "which": list(range(6))},
        ],
    )
    flags = {x["flag"]: x for x in audit.red_flags(r)}
    assert flags["black_box_beats_white_box"]["fired"]  # Square vs PGD-7; AutoAttack (which runs Square) is left out
    assert "PGD-7 (paper)" in flags["black_box_beats_white_box"]["evidence"]
    assert flags["zero_gradients"]["fired"] and flags["zero_gradients"]["evidence"].startswith("spike space")


def test_sweep_entry_at_large_eps_never_enters_the_worst_case():
    n = 10
    one = [1] * n
    r = _result(
        n,
        {"clean": one, "FGSM": one, "PGD-7 (paper)": one, "sweep eps=0.5": [0] * n},
        {"FGSM": "one-step", "PGD-7 (paper)": "paper"},
        sweep=[{"eps": 0.5, "eps_255": 127.5, "acc": 0.0, "n_robust": 0}],
    )
    assert (
        audit.derive(r)["final"]["worst"]["k"] == n
    )  # eps 0.5 breaks everything, yet the worst case at 8/255 is 100 %


def tiny_cfg(cifar_dir):
    from snnlib import config

    sets = [
        f"data.dataset=npz:{cifar_dir}",
        "data.n_per_class=6",
        "data.val_fraction=0.34",
        "data.test_per_class=1",
        "data.eval_per_class=1",
        "model.width=2",
        "train.epochs=1",
        "train.batch_size=8",
        "profile=custom",
        "name=tiny",
    ]
    return config.from_dict(config.apply_overrides({}, sets))


@pytest.mark.slow
def test_run_config_end_to_end_and_cached(cifar_dir, monkeypatch):
    cfg = tiny_cfg(cifar_dir)
    s = audit.AuditSettings.for_budget(
        "quick",
        n_eval=10,
        batch_size=5,
        ladder_steps=[1, 3],
        ladder_restarts=2,
        trace_steps=2,
        sweep_eps=[8 / 255, 0.5],
        sweep_steps=2,
        estimators=["atan-2", "rga", "bptr", "encoder-none"],
        estimator_steps=1,
        apgd_steps=2,
        sapgd_steps=2,
        level_steps=1,
        square_queries=3,
        spsa_steps=1,
        spsa_samples=2,
        transfer_steps=1,
        noise_draws=1,
        eot_samples=2,
        authors_batch_size=4,
        diagnostics_images=1,
        ann_twin=None,
    )
    r = audit.run_config(cfg, settings=s)
    assert r["kind"] == "audit" and r["n_eval"] == 10 and r["sources"]["ann"].startswith("tiny_ann-")
    names = {a["attack"] for a in r["attacks"]}
    assert (
        {
            "FGSM",
            "PGD-7 (paper)",
            "PGD-3",
            "PGD-3 x2",
            "APGD-CE",
            "APGD-DLR",
            "SA-PGD-2",
            "ASSG + SA-PGD-2",
            "Square-3",
            "SPSA-1",
            "transfer: ANN twin",
            "transfer: rate-coded twin",
            "spike-projected PGD-1",
            "level search-1",
            "random noise",
        }
        <= names
        and "PGD-1 [rga]" in names
        and "PGD-1 [bptr]" in names
    )
    ids = {a["id"] for a in r["attacks"]}
    assert {R.FGSM, R.PGD7, R.ladder(3), R.ladder(3, 2), R.APGD_CE, R.APGD_DLR, R.SAPGD, R.ASSG, R.SQUARE} <= ids
    assert {R.SPSA, R.TRANSFER["ann"], R.TRANSFER["rate"], R.SPIKE_PGD, R.LEVEL_SEARCH, R.NOISE} <= ids
    assert {R.estimator("rga"), R.estimator("bptr")} <= ids and set(r["per_sample"]) >= ids
    recs = audit.attack_records(r)
    assert recs[R.SQUARE].queries == 3 and recs[R.estimator("rga")].estimator == "rga" and recs[R.PGD7].steps == 7
    assert recs[R.APGD_DLR].stronger_loss and not recs[R.APGD_CE].stronger_loss
    wc = torch.tensor(r["per_sample"][R.WORST])
    assert r["final"]["worst_acc"] == wc.float().mean().item()
    assert r["final"]["worst_acc"] <= min(a["acc"] for a in r["attacks"] if a["in_worst_case"])
    assert r["eot"]["deterministic"] and len(r["switches"]) == 4 and "pgd_leak" in r["authors_loop"]
    assert r["result_file"].endswith(f"audit-{r['audit_key'][:10]}.json")
    monkeypatch.setattr(audit, "run_suite", lambda *a, **k: pytest.fail("recomputed a cached audit"))
    again = audit.run_config(cfg, settings=s)
    assert again["env"]["time"] == r["env"]["time"] and again["result_file"] == r["result_file"]
    assert set(audit.summary_table({"tiny": again}).columns) >= {"clean", "PGD-7 (paper)", "worst case", "cause"}
    for table in (
        audit.flags_table,
        audit.leak_table,
        audit.switch_table,
        audit.zero_grad_table,
        audit.estimator_table,
        audit.ladder_frame,
        audit.sweep_frame,
        audit.attack_frame,
        audit.attack_table,
        audit.attribution_table,
        audit.trace_frame,
        audit.strength_frame,
        audit.alignment_table,
    ):
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
