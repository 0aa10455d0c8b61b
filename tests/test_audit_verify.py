"""A checkable audit: examples.pt and --verify, model_info.json, the attack check (binarization test), --norm l2
and snnlib.testing.assert_audit, on a tiny hand-written LIF network."""

import json
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from snnlib import audit, cli
from snnlib.audit import api, attack_check, verify
from snnlib.errors import SnnlibError
from snnlib.testing import assert_audit

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "models"))
import tiny_lif  # noqa: E402

MODEL = f"{HERE / 'models' / 'tiny_lif.py'}:build"
TINY = tiny_lif.TINY_AUDIT  # the smallest audit budgets, shared by the audit tests


def linear():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10))


class ZeroGrad(nn.Module):
    """A linear classifier behind a backward that returns exactly zero (gradient masking): its logits move, PGD
    cannot follow them."""

    def __init__(self):
        super().__init__()
        self.net = linear()

    def forward(self, x):
        return self.net(x.detach()) + 0 * x.sum()


@pytest.fixture(scope="module")
def data():
    x = torch.rand(16, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    y = tiny_lif.build()(x).argmax(1)
    y[:2] = (y[:2] + 1) % 10  # two clean errors: stored as their own examples
    return x, y


@pytest.fixture(scope="module")
def report(data, tmp_path_factory):
    x, y = data
    rep = audit.audit(tiny_lif.build(), x, y, label="tiny LIF", dataset="random", progress=False, **TINY)
    out = tmp_path_factory.mktemp("audit")
    return rep, rep.save(out), out


def test_examples_realize_the_worst_case(data, report):
    x, y = data
    rep, files, out = report
    ex = torch.load(files["examples"], weights_only=True)
    worst = torch.tensor(rep.result["per_sample"]["worst"], dtype=torch.bool)
    k = len(ex["index"])
    assert k == int((~worst).sum()) > 2 and ex["x_adv"].shape == (k, 3, 32, 32) and ex["norm"] == "linf"
    assert torch.equal(ex["x"], x[ex["index"]]) and torch.equal(ex["y"], y[ex["index"]])
    assert ex["attack"][:2] == ["clean", "clean"] and set(ex["attack"][2:]) <= {"FGSM", "PGD-7 (paper)"}
    assert (ex["x_adv"] - ex["x"]).abs().amax() <= ex["eps"] + 1e-6
    rc = cli.main(["audit", "--verify", str(out), "--model", MODEL, "-q"])
    assert rc == 0
    v = verify.verify(out, tiny_lif.build())
    assert v["verified"] and v["confirmed"] == k and v["worst_case_bound"] == pytest.approx(rep.card["worst_case_acc"])


def test_verify_rejects_tampered_examples(report, tmp_path, capsys):
    _, files, _ = report
    ex = torch.load(files["examples"], weights_only=True)
    cases = []
    for name, change in (
        ("ball", lambda e: e["x_adv"][2].copy_(1 - e["x"][2])),
        ("range", lambda e: e["x_adv"][3].add_(0.5)),
    ):
        bad = {**ex, "x_adv": ex["x_adv"].clone()}
        change(bad)
        (tmp_path / name).mkdir()
        torch.save(bad, tmp_path / name / "examples.pt")
        cases.append((tmp_path / name, "1 of" if name == "ball" else "leave [0, 1]"))
    (tmp_path / "empty").mkdir()
    cases.append((tmp_path / "empty", "no examples.pt"))
    for folder, msg in cases:
        rc = cli.main(["audit", "--verify", str(folder), "--model", MODEL, "-q"])
        err = capsys.readouterr().err
        assert rc == 2 and msg in err and err.count("\n") == 1 and "Traceback" not in err, err
    with pytest.raises(SnnlibError, match=r"1 of 8 examples lie outside the linf ball of eps 0.03137 .*by up to 0\.9"):
        verify.verify(tmp_path / "ball", tiny_lif.build())
    flipped = {**ex, "y": ex["y"].clone(), "x_adv": ex["x_adv"].clone()}  # one the model gets right: not confirmed
    flipped["x_adv"][0] = ex["x"][0]
    flipped["y"][0] = tiny_lif.build()(ex["x"][:1]).argmax(1)[0]
    (tmp_path / "flip").mkdir()
    torch.save(flipped, tmp_path / "flip" / "examples.pt")
    with pytest.raises(SystemExit) as e:
        cli.main(["audit", "--verify", str(tmp_path / "flip"), "--model", MODEL, "-q"])
    assert e.value.code == 1 and "1 of" in capsys.readouterr().err


def test_model_info_and_attack_check_on_the_card(report):
    rep, files, _ = report
    info = json.loads(Path(files["model_info"]).read_text())
    for key in (
        "name",
        "dataset",
        "eps",
        "clean_acc",
        "autoattack_acc",
        "worst_case_acc",
        "worst_case_interval",
        "unreliable",
        "footnote",
        "norm",
    ):
        assert key in info
    assert info["eps"] == "8/255" and info["norm"] == "linf" and info["dataset"] == "random"
    assert info["autoattack_acc"] is None
    assert float(info["worst_case_acc"]) == pytest.approx(100 * rep.card["worst_case_acc"])
    assert info["unreliable"] == any(f["fired"] for f in rep.card["flags"]) and "cause" in info["footnote"]
    b = rep.card["attack_check"]["binarization"]
    assert b["n"] > 0 and b["found"] == b["n"]
    md = rep.to_markdown()
    assert f"found the known adversarial examples in {b['found']} of {b['n']} cases" in md
    assert "silent success" in md and "Pintor" in md


def test_attack_check_fails_where_the_gradient_is_masked(data):
    x, _ = data
    for norm, eps in (("linf", 8 / 255), ("l2", 0.5)):
        ok = attack_check.binarization_test(linear(), x[:6], eps, norm)
        masked = attack_check.binarization_test(ZeroGrad(), x[:6], eps, norm)
        assert ok["passed"] and ok["n"] == 6 and masked["n"] >= 3 and masked["found"] == 0, (ok, masked)
        assert f"found the known adversarial examples in 0 of {masked['n']} cases" in attack_check.sentence(masked)


def test_norm_l2(data, tmp_path, capsys, monkeypatch):
    x, y = data
    rep = audit.audit(tiny_lif.build(), x, y, norm="l2", eps=2.0, progress=False, **TINY)
    c = rep.card
    assert (
        c["norm"] == "l2"
        and c["eps"] == 2.0
        and {"apgd-ce", "apgd-dlr", "pgd7", "fgsm"} <= {a["id"] for a in c["attacks"]}
        and "FGM" in {a["name"] for a in c["attacks"]}  # the l2 one-step attack is named for what it is
    )
    assert any(a["name"].startswith("Square-") for a in c["attacks"]) and c["worst_case_acc"] <= c["pgd7_acc"]
    flags = {f["name"] for f in c["flags"]}
    assert flags >= {"one_step_beats_iterative", "random_noise_finds", "unbounded_eps_not_100", "zero_gradients"}
    rep.save(tmp_path)
    assert json.loads((tmp_path / "model_info.json").read_text())["threat_model"] == "L2"
    v = verify.verify(tmp_path, tiny_lif.build())
    assert v["verified"] and v["norm"] == "l2" and v["max_distance"] <= 2.0 + 1e-5
    api._settings("quick", 0.03, "l2", 0, 16, {})
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "looks like an l-inf value" in err
    seen = {}
    monkeypatch.setattr(audit, "audit", lambda *a, **k: seen.update(k) or rep)
    monkeypatch.setattr(cli_loading(), "load_images", lambda *a: (x, y, 10))
    assert cli.main(["audit", "--model", MODEL, "--norm", "l2", "--eps", "0.5", "--out", str(tmp_path), "-q"]) == 0
    assert seen["norm"] == "l2" and seen["eps"] == 0.5


def cli_loading():
    from snnlib.audit import loading

    return loading


def test_assert_audit(data):
    x, y = data
    rep = assert_audit(tiny_lif.build(), x, y, worst_at_least=0.0, **TINY)
    assert rep.card["n"] == len(y)
    with pytest.raises(AssertionError, match=r"worst-case accuracy .* below 1.*worst case .*cause"):
        assert_audit(tiny_lif.build(), x, y, worst_at_least=1.0, **TINY)
    with pytest.raises(AssertionError, match="red flags fired.*randomness"):
        assert_audit(tiny_lif.build_leaky(), x, y, no_flags=True, **TINY)
