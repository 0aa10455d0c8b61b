import pytest
import torch
import torch.nn.functional as F

from snnlib import attacks
from snnlib.attacks import FGSM, PGD, ThreatModel, bn_mode, run_torchattack, torchattack
from snnlib.evaluation import evaluate_model as evaluate
from snnlib.data import ImageSet
from snnlib.encoding import PhaseEncoder
from snnlib.errors import SnnlibError
from snnlib.models import SpikingClassifier, build_model


def bn_state(model):
    return {n: b.clone() for n, b in model.named_buffers() if "running" in n or "num_batches" in n}


def test_fgsm_authors_threat_model_by_hand(tiny_model, images):
    """spike + train: exactly eps * sign(grad) on the spike tensor, clamped, with BN in train mode."""
    x, y = images
    eps = 8 / 255
    before = bn_state(tiny_model)
    adv = FGSM(ThreatModel.preset(tiny_model, "authors"), eps)(x, y)
    # by hand: encode, model.train(), gradient w.r.t. the spikes, one signed step
    s = PhaseEncoder()(x).requires_grad_(True)
    ref = SpikingClassifier(tiny_model.net, None)
    snapshot = {k: v.clone() for k, v in tiny_model.state_dict().items()}
    ref.train()
    F.cross_entropy(ref(s), y).backward()
    expected = torch.clamp(s.detach() + eps * s.grad.sign(), 0, 1)
    tiny_model.load_state_dict(snapshot)
    tiny_model.eval()
    assert adv.shape == (10, 4, 3, 32, 32)
    assert torch.equal(adv, expected)
    after = bn_state(tiny_model)
    assert all(torch.equal(before[k], after[k]) for k in before)  # running stats untouched
    assert not tiny_model.training


def test_bn_mode_restores_running_stats(tiny_model, images):
    x, _ = images
    before = bn_state(tiny_model)
    with bn_mode(tiny_model, "train"):
        tiny_model(x)
        assert any(not torch.equal(before[k], v) for k, v in bn_state(tiny_model).items())
    assert all(torch.equal(before[k], v) for k, v in bn_state(tiny_model).items())


@pytest.mark.parametrize("space", ["pixel", "spike"])
def test_pgd_stays_in_ball(tiny_model, images, space):
    x, y = images
    threat = ThreatModel(tiny_model, space)
    z0 = threat.inputs(x)
    adv = PGD(threat, eps=8 / 255, alpha=0.01, steps=7, generator=torch.Generator().manual_seed(0))(x, y)
    assert adv.shape == z0.shape
    assert (adv - z0).abs().max() <= 8 / 255 + 1e-6 and adv.min() >= 0 and adv.max() <= 1


def test_one_step_pgd_without_start_is_fgsm(tiny_model, images):
    x, y = images
    t = ThreatModel(tiny_model)
    assert torch.equal(PGD(t, 8 / 255, alpha=8 / 255, steps=1, random_start=False)(x, y), FGSM(t, 8 / 255)(x, y))


def test_pgd_restarts_never_worse(tiny_model, images):
    x, y = images
    t = ThreatModel(tiny_model)
    g = torch.Generator().manual_seed(0)
    one = PGD(t, 8 / 255, steps=2, generator=g)(x, y)
    g = torch.Generator().manual_seed(0)
    three = PGD(t, 8 / 255, steps=2, restarts=3, generator=g)(x, y)
    assert (t.predict(three) != y).sum() >= (t.predict(one) != y).sum()


def test_evaluate(tiny_model, images):
    x, y = images
    ds = ImageSet((x * 255).round().to(torch.uint8), y, [str(i) for i in range(10)])
    r = evaluate(tiny_model, ds, eps_sweep=[2 / 255, 4 / 255], batch_size=3)
    assert r["n"] == 4 and 0 <= r["pgd_acc"] <= 1
    assert [round(s["eps"] * 255) for s in r["sweep"]] == [2, 4, 8]
    assert r == {
        **evaluate(tiny_model, ds, eps_sweep=[2 / 255, 4 / 255], batch_size=3),
        "attack_time_s": r["attack_time_s"],
    }


def test_bad_attack_settings(tiny_model):
    with pytest.raises(SnnlibError, match="unknown attack space 'latent'"):
        ThreatModel(tiny_model, "latent")
    with pytest.raises(SnnlibError, match="unknown bn mode"):
        ThreatModel(tiny_model, "pixel", "frozen")
    with pytest.raises(SnnlibError, match=r"eps must lie in \[0, 1\]"):
        FGSM(ThreatModel(tiny_model), 8)
    with pytest.raises(SnnlibError, match="unknown torchattacks attack"):
        torchattack("cw", tiny_model)


@pytest.mark.parametrize(
    "name, kw",
    [
        ("apgd-ce", dict(steps=2)),
        ("apgd-dlr", dict(steps=2)),
        ("square", dict(n_queries=5)),
        ("eotpgd", dict(steps=2, eot_iter=2)),
        ("fab", dict(steps=2)),
        ("apgdt", dict(steps=2)),
    ],
)
def test_torchattacks_interop(tiny_model, images, name, kw):
    x, y = images
    adv = run_torchattack(name, ThreatModel(tiny_model), x[:2], y[:2], **kw)
    assert adv.shape == x[:2].shape and (adv - x[:2]).abs().max() <= 8 / 255 + 1e-5


def test_torchattacks_spike_space_and_cifar100(images):
    x, y = images
    torch.manual_seed(0)
    model = SpikingClassifier(build_model("sew_resnet18", 100, width=2), PhaseEncoder()).eval()
    adv = run_torchattack("apgd-ce", ThreatModel(model, "spike", "train"), x[:2], y[:2], n_classes=100, steps=2)
    assert adv.shape == (10, 2, 3, 32, 32)
    atk = torchattack("apgdt", model, n_classes=100)
    assert atk.n_target_classes == 99  # torchattacks 3.3.0: n_classes - 1 target classes


def test_autoattack_standard_is_the_original_budget(tiny_model, images):
    """The standard version as Croce & Hein run it: APGD-CE, APGD-T, FAB-T, Square, each on the survivors."""
    atk = torchattack("autoattack", tiny_model, n_classes=10)
    kinds = [type(a).__name__ for a in atk.attacks]
    assert kinds == ["APGD", "APGDT", "FAB", "Square"]
    assert atk.attacks[0].steps == 100 and atk.attacks[1].n_target_classes == 9 and atk.attacks[3].n_queries == 5000
    x, y = images
    adv = run_torchattack("autoattack", ThreatModel(tiny_model), x[:2], y[:2], n_classes=10, steps=1, n_queries=2)
    assert adv.shape == x[:2].shape and (adv - x[:2]).abs().max() <= 8 / 255 + 1e-5


def _set(n=21, seed=0):
    g = torch.Generator().manual_seed(seed)
    return ImageSet(
        torch.randint(0, 256, (n, 3, 32, 32), generator=g, dtype=torch.uint8),
        torch.arange(n) % 10,
        [str(i) for i in range(10)],
    )


def test_bn_train_accuracy_does_not_depend_on_the_dataset_order(tiny_model):
    """Under BN train mode the batch statistics depend on which images share a batch. The authors' threat
    crafts on a seeded shuffle that depends only on the images (batch 16; 21 images: the last batch of 5 is
    kept), so permuting the dataset gives the same per-image outcomes; the dataset order does not."""
    tiny_model.train()  # BN running statistics that differ from any batch's own
    for _ in range(2):
        tiny_model(torch.rand(8, 3, 32, 32))
    ds, perm = _set(), torch.randperm(21, generator=torch.Generator().manual_seed(1))
    kw = dict(eps=8 / 255, steps=2, space="spike", bn="train", batch_size=16, seed=3)
    a = evaluate(tiny_model, ds, batch_order="shuffled", **kw)
    b = evaluate(tiny_model, ds.subset(perm), batch_order="shuffled", **kw)
    for k in ("clean", "fgsm@0.03137254901960784", "pgd@0.03137254901960784"):
        assert torch.equal(torch.tensor(a["per_sample"][k])[perm], torch.tensor(b["per_sample"][k]))
    assert a["n"] == 21
    # the shuffle's own seed: the run's seed by default; another seed draws other batches of the same images
    same = evaluate(tiny_model, ds, batch_order="shuffled", order_seed=3, start_seed=3, **kw)
    assert same["per_sample"] == a["per_sample"]
    other = evaluate(tiny_model, ds, batch_order="shuffled", order_seed=4, **kw)
    assert other["per_sample"]["clean"] == a["per_sample"]["clean"]  # BN eval predictions: the batch does not matter


def test_threat_registry_is_the_one_place(tiny_model):
    from snnlib import experiments
    from snnlib.config import Config

    auth = attacks.threat("authors")
    assert (auth.space, auth.bn, auth.batch_order, auth.batch_size) == ("spike", "train", "shuffled", 16)
    cfg = experiments.eval_config(Config(), "authors-6")
    assert (cfg.attack.space, cfg.attack.bn, cfg.attack.batch_order, cfg.attack.batch_size) == (
        "spike",
        "train",
        "shuffled",
        16,
    ) and abs(cfg.attack.eps - 6 / 255) < 1e-12
    # batch order and size change numbers under BN train (statistics) and BN eval (PGD's random starts, drawn batch
    # by batch): both are in the key, except the default batching under BN eval (the committed results' keys)
    std = experiments.eval_config(Config(), "standard")
    assert experiments.with_attack(std, batch_size=7).eval_key() != std.eval_key()
    assert experiments.with_attack(cfg, batch_size=7).eval_key() != cfg.eval_key()
    assert experiments.with_attack(cfg, order_seed=1).eval_key() != cfg.eval_key()
    assert experiments.with_attack(std, order_seed=1).eval_key() == std.eval_key()
    assert experiments.with_attack(std, start_seed=1).eval_key() != std.eval_key()  # other starts, other numbers
    with pytest.raises(SnnlibError, match="unknown threat model 'author'; expected one of: standard, authors"):
        attacks.threat("author")
    assert attacks.ThreatModel.preset(tiny_model, "authors").bn == "train"


def test_authors_loop_and_evaluate_craft_on_the_same_batches(tiny_model):
    """Two code paths measure the authors' threat: the evaluation (BN train, running statistics restored) and the
    authors' loop (which also reports the BN leak). Without the leak they must agree: FGSM has no random start,
    so its per-image outcomes are identical when both craft on the registry's batches."""
    from snnlib.authors import authors_loop

    tiny_model.train()
    for _ in range(2):
        tiny_model(torch.rand(8, 3, 32, 32))
    tiny_model.eval()
    ds = _set(n=19)
    x, y = ds.batch(torch.arange(19))
    ev = evaluate(
        tiny_model, ds, eps=8 / 255, steps=1, space="spike", bn="train", batch_size=16, seed=5, batch_order="shuffled"
    )
    loop = authors_loop(
        tiny_model, x, y, eps=8 / 255, steps=1, batch_size=16, order_seed=5, generator=torch.Generator().manual_seed(0)
    )
    assert torch.equal(torch.tensor(ev["per_sample"]["fgsm@0.03137254901960784"], dtype=torch.bool), loop["fgsm"])
    assert torch.equal(torch.tensor(ev["per_sample"]["clean"], dtype=torch.bool), loop["clean"])
