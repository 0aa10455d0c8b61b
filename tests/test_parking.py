"""An unfinished audit is parked in git (its partial file, checksummed) and resumed on another machine."""

import pytest

from snnlib import audit, config, parking, places, results
from snnlib.audit import run
from snnlib.errors import CheckpointError


def _tiny(cifar_dir):
    sets = [
        f"data.dataset=npz:{cifar_dir}",
        "data.n_per_class=6",
        "data.eval_per_class=1",
        "model.width=2",
        "train.epochs=1",
        "profile=custom",
        "name=parked_audit",
    ]
    return config.from_dict(config.apply_overrides({}, sets))


def test_an_unfinished_audit_is_parked_and_resumed_on_a_fresh_clone(cifar_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(places, "parked_dir", lambda profile_name=None: tmp_path / "parked" / (profile_name or "x"))
    cfg = _tiny(cifar_dir)
    with pytest.raises(CheckpointError, match="nothing to park"):
        parking.park(cfg)
    name = f"audit-{run._keyed(cfg, None)[2][:10]}.partial.json"
    results.write_json(results.run_dir(cfg) / name, {"done": ["clean", "fgsm_pgd7"]})
    out = parking.park(cfg)  # no training under way: only the audit is parked
    assert out["epoch"] is None and out["audits"] == [name] and len(out["files"]) == 1
    config.set_output_root(tmp_path / "fresh")  # a clone with no results of its own
    assert not (results.run_dir(cfg) / name).exists()
    assert audit.partial_progress(cfg) == (2, len(audit.CHECKS))  # the book sees the parked progress
    assert parking.unpark_audits(cfg) == [name]
    assert results.read_json(results.run_dir(cfg) / name)["done"] == ["clean", "fgsm_pgd7"]
    results.write_json(results.run_dir(cfg) / name, {"done": ["clean", "fgsm_pgd7", "ladder"]})
    assert parking.unpark_audits(cfg) == []  # the local run got further: it is kept
    (parking.parked_dir(cfg) / name).write_text('{"done": ["clean", "fgsm_pgd7", "ladder", "x"]}')
    with pytest.raises(CheckpointError, match="does not match"):
        parking.unpark_audits(cfg)
    assert parking.drop_audit(cfg, name) and not parking.parked_dir(cfg).exists()
