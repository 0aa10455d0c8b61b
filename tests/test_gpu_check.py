"""make gpu-check, in its dry-run form: the same steps on the CPU at tiny sizes."""

import json

import pytest

from snnlib.bench import gpu
from snnlib.errors import SnnlibError


def test_gpu_check_dry_run(cifar_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("SNNLIB_DATA", str(cifar_dir))
    r = gpu.run(dry_run=True, out=str(tmp_path / "gpu"), budget_s=60)
    assert r["dry_run"] and r["device"] == "cpu"
    names = {p.name for p in (tmp_path / "gpu").iterdir()}
    assert {"environment.json", "bench.json", "medium-sew18_max.json", "paper-sew18_max_cifar10.json"} <= names
    med = json.loads((tmp_path / "gpu" / "medium-sew18_max.json").read_text())
    assert med["epochs_run"] == 1 and len(med["seconds_per_epoch"]) == 1
    assert "spikingjelly_if" in json.loads((tmp_path / "gpu" / "environment.json").read_text())


def test_gpu_check_needs_cuda(monkeypatch):
    monkeypatch.setattr(gpu.torch.cuda, "is_available", lambda: False)
    with pytest.raises(SnnlibError, match="CUDA"):
        gpu.run(dry_run=False)
