"""Shared fixtures: tiny seeded models and a small real-image batch."""

import os
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data" / "cifar10-npz"

if os.environ.get("PYTEST_XDIST_WORKER"):  # make unit runs one worker per core: one thread each
    torch.set_num_threads(1)


def data_dir() -> Path | None:
    """The lossless CIFAR-10 arrays (train.npz, test.npz): SNNLIB_DATA if set, else ../shared/data/cifar10-npz."""
    env = os.environ.get("SNNLIB_DATA")
    p = Path(env) if env else SHARED
    if not p.is_absolute():
        p = ROOT / p
    return p if (p / "train.npz").is_file() else None


@pytest.fixture(scope="session")
def cifar_dir():
    d = data_dir()
    if d is None:
        pytest.skip("lossless CIFAR-10 (train.npz, test.npz) not found (set SNNLIB_DATA)")
    return d


@pytest.fixture(autouse=True)
def _isolate(tmp_path, monkeypatch):
    """Each test writes runs/ and results/ under its own temporary folder."""
    from snnlib import config

    config.set_output_root(tmp_path)
    yield
    config.set_output_root(None)


@pytest.fixture
def tiny_model():
    from snnlib.encoding import PhaseEncoder
    from snnlib.models import SpikingClassifier, build_model

    torch.manual_seed(0)
    net = build_model("sew_resnet18", 10, width=4)
    return SpikingClassifier(net, PhaseEncoder()).eval()


@pytest.fixture
def images():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (4, 3, 32, 32), generator=g).float() / 255
    y = torch.tensor([0, 1, 2, 3])
    return x, y
