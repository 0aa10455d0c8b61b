import json
import subprocess
import sys

import pytest
import torch

from snnlib import checkpoints, config, results, train
from snnlib.errors import CheckpointError


def tiny_cfg(cifar_dir, **over):
    sets = [
        f"data.dataset=npz:{cifar_dir}",
        "data.n_per_class=6",
        "data.val_fraction=0.34",
        "data.test_per_class=2",
        "data.eval_per_class=1",
        "model.width=2",
        "train.epochs=2",
        "train.batch_size=8",
        "profile=custom",
        "name=tiny",
    ]
    sets += [f"{k}={v}" for k, v in over.items()]
    return config.from_dict(config.apply_overrides({}, sets))


def test_train_and_skip(cifar_dir):
    cfg = tiny_cfg(cifar_dir)
    r = train.train(cfg)
    assert r["complete"] and len(r["history"]) == 2
    assert set(r["final"]) >= {"best_epoch", "test_acc_best", "test_acc_last", "val_acc_best"}
    saved = results.read_json(results.run_dir(cfg) / "train.json")
    assert saved["config"]["model"]["width"] == 2 and saved["env"]["seed"] == 3407
    assert saved["data"]["n_train"] == 40 and saved["data"]["n_val"] == 20
    again = train.train(cfg)  # cached by config content: not retrained
    assert again["env"]["time"] == saved["env"]["time"]
    df = results.load("custom")
    assert len(df) == 1 and df["config.model.width"].iloc[0] == 2


def test_resume_is_bit_identical(cifar_dir):
    cfg = tiny_cfg(cifar_dir, **{"train.epochs": 3})
    full = train.train(cfg)
    w_full = checkpoints.load_checkpoint(checkpoints.checkpoint_paths(cfg)["latest"])["model"]
    # the same run, interrupted after its first epoch, then resumed
    config.set_output_root(config.output_root() / "second")
    part = train.train(cfg, stop_after=1)
    assert not part["complete"] and part["epoch"] == 1
    resumed = train.train(cfg, resume=True)
    w_res = checkpoints.load_checkpoint(checkpoints.checkpoint_paths(cfg)["latest"])["model"]
    assert all(torch.equal(w_full[k], w_res[k]) for k in w_full)
    keys = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc")
    assert [[h[k] for k in keys] for h in full["history"]] == [[h[k] for k in keys] for h in resumed["history"]]
    assert full["final"]["test_acc_last"] == resumed["final"]["test_acc_last"]


def test_bad_checkpoints(tmp_path, cifar_dir):
    trunc = tmp_path / "trunc.pt"
    torch.save({"format": checkpoints.CHECKPOINT_FORMAT, "model": {"w": torch.zeros(1000)}}, trunc)
    trunc.write_bytes(trunc.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="trunc.pt could not be read"):
        checkpoints.load_checkpoint(trunc)
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(CheckpointError, match="foreign.pt is not an snnlib checkpoint"):
        checkpoints.load_checkpoint(foreign)
    garbage = tmp_path / "garbage.pt"
    garbage.write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="garbage.pt could not be read"):
        checkpoints.load_checkpoint(garbage)
    with pytest.raises(CheckpointError, match="does not exist"):
        checkpoints.load_trained(tiny_cfg(cifar_dir))


def test_cli_train_prints_one_json_line(tmp_path, cifar_dir):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(config.to_yaml(tiny_cfg(cifar_dir, **{"train.epochs": 1})))
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "snnlib",
            "train",
            str(cfg),
            "--out",
            str(tmp_path / "o"),
            "-q",
            "--set",
            "model.width=1",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr
    last = json.loads(out.stdout.strip().splitlines()[-1])
    assert last["metrics"]["epochs"] == 1 and last["result_file"].startswith(str(tmp_path / "o"))
    bad = subprocess.run(
        [sys.executable, "-m", "snnlib", "train", str(cfg), "--set", "model.widht=1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and "did you mean 'width'" in bad.stderr and "Traceback" not in bad.stderr


def test_fast_switch_keeps_weights_and_forward():
    """train.fast swaps in snnlib.kernels' modules without touching the state_dict or the forward."""
    from snnlib import build
    from snnlib import kernels as fast

    cfgs = [
        config.from_dict(config.apply_overrides({}, [f"train.fast={v}", "model.width=4", "model.T=2"]))
        for v in ("true", "false")
    ]
    on, off = (build.build_classifier(c, 10) for c in cfgs)

    def kinds(m):
        return {type(x) for x in m.modules()}

    assert {fast.FusedIFNode, fast.GemmGradConv2d} <= kinds(on)
    assert not {fast.FusedIFNode, fast.GemmGradConv2d} & kinds(off)
    assert cfgs[0].train_key() != cfgs[1].train_key()
    x = torch.rand(2, 3, 32, 32)
    for a, b in zip(on.state_dict().values(), off.state_dict().values()):
        assert torch.equal(a, b)
    assert torch.equal(on.eval()(x), off.eval()(x))


def test_a_parked_run_resumes_on_a_fresh_clone(cifar_dir, tmp_path, monkeypatch):
    from snnlib import parking, places

    for name in ("parked", "zoo"):  # committed folders of the project, here under the test's own
        monkeypatch.setattr(
            places, f"{name}_dir", lambda profile_name=None, n=name: tmp_path / n / (profile_name or "x")
        )
    cfg = tiny_cfg(cifar_dir, **{"train.epochs": 2})
    with pytest.raises(CheckpointError, match="nothing to park"):
        parking.park(cfg)
    train.train(cfg, stop_after=1)
    assert parking.park(cfg)["epoch"] == 1 and parking.parked(cfg)
    full = train.train(cfg, resume=True)
    fresh = config.output_root() / "fresh"
    config.set_output_root(fresh)  # a clone with no runs/ of its own
    assert not checkpoints.checkpoint_paths(cfg)["latest"].exists()
    resumed = train.ensure_trained(cfg)
    keys = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc")
    assert [[h[k] for k in keys] for h in full["history"]] == [[h[k] for k in keys] for h in resumed["history"]]
    assert resumed["final"]["test_acc_last"] == full["final"]["test_acc_last"]
    (parking.parked_dir(cfg) / "best.pt").write_bytes(b"edited")
    config.set_output_root(fresh / "third")
    with pytest.raises(CheckpointError, match="does not match"):
        train.ensure_trained(cfg)
    config.set_output_root(fresh)
    checkpoints.publish(cfg)  # a published run drops its parked copy (runs/ has the finished best)
    assert not parking.parked(cfg)


@pytest.mark.parametrize(
    "select, values, kept",
    [("val_acc", [0.2, 0.5, 0.4], 2), ("robust_val_acc", [0.26, 0.29, 0.29, 0.30, 0.1], 4), ("val_loss", [2, 1, 3], 2)],
)
def test_the_kept_epoch_is_the_best_on_the_selected_metric(select, values, kept):
    cfg = config.from_dict({"name": "t", "train": {"select": select, "robust_val": 10}})
    best = None
    for epoch, v in enumerate(values, 1):
        m = {"epoch": epoch, select: v}
        best = m if train._better(cfg, m, best) else best
    assert best["epoch"] == kept
