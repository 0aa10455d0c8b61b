"""Audit your own SNN: snnlib.audit.audit on a model written without SpikingJelly, and the CLI's bad inputs."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from snnlib import audit
from snnlib.errors import SnnlibError

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "models"))
import tiny_lif  # noqa: E402

TINY = tiny_lif.TINY_AUDIT  # the smallest audit budgets, shared by the audit tests


@pytest.fixture(scope="module")
def data():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(16, 3, 32, 32, generator=g)
    return x, tiny_lif.build()(x).argmax(1)  # labels the model gets right: all attacked


def test_audit_hand_written_lif(data, tmp_path):
    x, y = data
    rep = audit.audit(tiny_lif.build(), x, y, budget="quick", label="tiny LIF", progress=False, **TINY)
    card = rep.card
    for key in (
        "clean_acc",
        "pgd7_acc",
        "worst_case_acc",
        "worst_case_interval",
        "attacks",
        "flags",
        "verdict",
        "settings",
        "env",
    ):
        assert key in card
    assert card["clean_acc"] == 1.0 and card["worst_case_acc"] <= card["pgd7_acc"]
    lo, hi = card["worst_case_interval"]
    assert 0 <= lo <= card["worst_case_acc"] <= hi <= 1
    assert all({"name", "group", "eps", "acc", "n"} <= set(a) for a in card["attacks"])
    assert all({"name", "fired", "evidence", "rule"} <= set(f) for f in card["flags"])
    flags = {f["name"]: f for f in card["flags"]}
    assert not flags["randomness"]["fired"] and not flags["probabilities"]["fired"]
    skipped = {s["attack"] for s in card["skipped"]}  # no SpikingJelly neurons, no phase encoder
    assert any("ASSG" in s for s in skipped) and any("atan-2" in s for s in skipped)
    files = rep.save(tmp_path)
    md = Path(files["markdown"]).read_text()
    assert "strength.png" in md and "Red flags" in md and Path(files["figure"]).stat().st_size > 0
    assert json.loads(Path(files["json"]).read_text())["n"] == len(y)


def test_audit_flags_a_stateful_model_and_uses_eot(data):
    x, y = data
    rep = audit.audit(tiny_lif.build_leaky(), x, y, budget="quick", progress=False, **TINY)
    flag = {f["flag"]: f for f in rep.result["flags"]}["randomness"]
    assert flag["fired"] and flag["evidence"].startswith("stateful")
    assert any(a["group"] == "eot" for a in rep.result["attacks"])


def test_audit_flags_probabilities(data):
    x, y = data
    rep = audit.audit(tiny_lif.build_probs(), x, y, budget="quick", progress=False, **TINY)
    assert {f["flag"]: f["fired"] for f in rep.result["flags"]}["probabilities"]


def test_audit_bad_inputs(data):
    x, y = data
    with pytest.raises(SnnlibError, match=r"\[0,1\]"):
        audit.audit(tiny_lif.build(), x * 255, y)
    with pytest.raises(SnnlibError, match=r"logits \[B,K\]"):
        audit.audit(tiny_lif.build_wrong_shape(), x, y)
    with pytest.raises(SnnlibError, match="10 classes"):
        audit.audit(tiny_lif.build_wrong_classes(), x, y, n_classes=10)
    with pytest.raises(SnnlibError, match="0..9"):
        audit.audit(tiny_lif.build(), x, y + 10)
    with pytest.raises(SnnlibError, match="budget"):
        audit.audit(tiny_lif.build(), x, y, budget="huge")
    with pytest.raises(SnnlibError, match="must be a positive integer"):
        audit.audit(tiny_lif.build(), x, y, ladder_restarts=-1)
    with pytest.raises(SnnlibError, match=r"\[0, 1\]"):
        audit.audit(tiny_lif.build(), x, y, eps=2.0)


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "snnlib", "audit", *args], capture_output=True, text=True, timeout=600)


def test_cli_bad_inputs_one_line(tmp_path, cifar_dir, capsys):
    from snnlib import cli

    model = str(HERE / "models" / "tiny_lif.py")
    data = f"npz:{cifar_dir}"
    bad = tmp_path / "bad.pt"
    bad.write_text("garbage")
    torch.save({"fc1.weight": torch.zeros(1)}, tmp_path / "wrong.pt")
    cases = [
        (["--model", f"{model}:nothing", "--data", data], "no callable 'nothing'"),
        (["--model", f"{model}:build_bad", "--data", data], "must return a torch.nn.Module"),
        (["--model", f"{model}:build", "--data", data, "--checkpoint", str(bad)], "could not be read"),
        (
            ["--model", f"{model}:build", "--data", data, "--checkpoint", str(tmp_path / "wrong.pt")],
            "does not fit the model",
        ),
        (["--model", f"{model}:build", "--data", data, "--n", "100000"], "larger than the test set"),
        (["--model", f"{model}:build_wrong_shape", "--data", data, "--n", "10"], "logits [B,K]"),
        (["--model", f"{model}:build_wrong_classes", "--data", data, "--n", "10"], "10 classes"),
    ]
    for args, msg in cases:  # in process: the same main() the command runs
        rc = cli.main(["audit", *args, "--out", str(tmp_path / "o"), "-q"])
        err = capsys.readouterr().err
        assert rc == 2 and msg in err and "Traceback" not in err and err.count("\n") == 1, (args, err[-500:])
    out = _cli("--model", "no_such_module:build", "--data", data, "-q")  # and once as the real command
    assert out.returncode == 2 and "cannot import module" in out.stderr and "Traceback" not in out.stderr


def test_interrupted_audit_resumes_to_the_same_result(data, tmp_path, monkeypatch):
    from snnlib.audit import checks, run

    x, y = data
    s = audit.AuditSettings.for_budget("quick", **TINY)
    whole = run.run_suite(tiny_lif.build(), x, y, s, progress=False)
    partial = tmp_path / "audit.partial.json"

    def stop(suite):
        raise KeyboardInterrupt

    names = [n for n, _ in checks.CHECKS]
    assert set(checks.SEED_INDEX) == set(names) and len(set(checks.SEED_INDEX.values())) == len(names)
    cut = names.index("spsa")
    monkeypatch.setattr(run, "CHECKS", checks.CHECKS[:cut] + [("spsa", stop)] + checks.CHECKS[cut + 1 :])
    with pytest.raises(KeyboardInterrupt):
        run.run_suite(tiny_lif.build(), x, y, s, progress=False, partial=partial)
    assert json.loads(partial.read_text())["done"] == names[:cut]
    monkeypatch.setattr(run, "CHECKS", checks.CHECKS)
    resumed = run.run_suite(tiny_lif.build(), x, y, s, progress=False, partial=partial)
    assert resumed["per_sample"] == whole["per_sample"] and resumed["final"] == whole["final"]


def test_an_audit_whose_sources_changed_reuses_every_other_check(data, tmp_path):
    from snnlib import results
    from snnlib.audit import reuse, run

    x, y = data
    s = audit.AuditSettings.for_budget("quick", **TINY)

    def source(seed):  # a linear model, or (seed None) the model itself: a transfer that breaks images
        torch.manual_seed(seed or 0)
        lin = torch.nn.Sequential(torch.nn.AvgPool2d(4), torch.nn.Flatten(), torch.nn.Linear(192, 10))
        return tiny_lif.build() if seed is None else lin

    old = run.run_suite(tiny_lif.build(), x, y, s, ann=source(None), progress=False)
    fresh = run.run_suite(tiny_lif.build(), x, y, s, ann=source(2), progress=False)
    run_dir = tmp_path / "run"
    results.write_json(
        run_dir / "audit-aaaaaaaaaa.json",
        {**old, "eval_key": "e", "audit_key": "a" * 16, "settings": s.to_dict(), "env": {"time": "t"}},
    )
    partial = run_dir / "audit-bbbbbbbbbb.partial.json"
    assert reuse.seed_partial(partial, run_dir, "other model", s.to_dict(), "b" * 16) is None
    used = reuse.seed_partial(partial, run_dir, "e", s.to_dict(), "b" * 16)
    assert used["audit_key"] == "a" * 16 and "transfer" not in used["checks"] and len(used["checks"]) > 10
    resumed = reuse.place(
        run.run_suite(tiny_lif.build(), x, y, s, ann=source(2), progress=False, partial=partial), used
    )
    assert resumed["per_sample"] == fresh["per_sample"] and resumed["final"] == fresh["final"]
    assert resumed["attacks"] == fresh["attacks"] and resumed["per_sample"] != old["per_sample"]
    assert resumed["per_sample"]["transfer-ann"] != old["per_sample"]["transfer-ann"]
    assert reuse.seed_partial(partial, run_dir, "e", s.to_dict(), "b" * 16) == used  # a resumed run still knows
    reuse.finish(partial)
    assert not list(run_dir.glob("*.partial.json"))
