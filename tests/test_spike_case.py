"""The spike-space worst case (issue: the authors' threat measured right, item 3)."""

import pytest
import torch

from snnlib.errors import SnnlibError
from snnlib.spike_case import CASCADE, SpikeCaseSettings, attack_robust, spike_worst_case

TINY = SpikeCaseSettings(steps=3, restarts=2, apgd_steps=2, n_eval=8, batch_size=4, authors_batch_size=4)


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, 256, (8, 3, 32, 32), generator=g).float() / 255
    return x, torch.arange(8) % 10


def _predicted(model, x):
    with torch.no_grad():
        return model(x).argmax(1)


def test_worst_case_is_nested_in_the_authors_survivors(tiny_model, batch):
    x, _ = batch
    y = _predicted(tiny_model, x)  # every image clean-correct
    clean = torch.ones(8, dtype=torch.bool)
    authors = torch.tensor([1, 1, 1, 1, 1, 1, 0, 0], dtype=torch.bool)
    r = spike_worst_case(tiny_model, x, y, clean, authors, 8 / 255, TINY)
    worst = torch.tensor(r["per_sample"]["worst"], dtype=torch.bool)
    assert not (worst & ~authors).any()  # nothing survives that the authors' PGD-7 broke
    rows = r["rows"]
    assert [row["attack"] for row in rows[1:]] == [a for a, _, _ in CASCADE]
    assert rows[0]["robust_after"] == 6 and rows[0]["broken"] == 2
    for prev, row in zip(rows, rows[1:]):  # each attack works on what the earlier ones left
        assert row["attacked"] == prev["robust_after"]
        assert row["robust_after"] == row["attacked"] - row["broken"]
    assert r["worst"]["k"] == rows[-1]["robust_after"] == int(worst.sum())
    assert r["beyond_pgd7"]["k"] == 6 - int(worst.sum())
    assert 0 <= r["beyond_pgd7"]["lo"] <= r["beyond_pgd7"]["hi"] <= 1


def test_a_constant_model_is_never_broken(batch):
    from snnlib.encoding import PhaseEncoder
    from snnlib.models import SpikingClassifier

    class Constant(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))  # torchattacks finds the device through a parameter

        def forward(self, s):  # spikes [T,B,C,H,W] -> per-step logits [T,B,10], the same whatever the input
            return torch.zeros(*s.shape[:2], 10) + torch.arange(10.0) + self.w * s.sum()

    model = SpikingClassifier(Constant(), PhaseEncoder()).eval()
    x, _ = batch
    y = torch.full((8,), 9)
    ones = torch.ones(8, dtype=torch.bool)
    r = spike_worst_case(model, x, y, ones, ones, 8 / 255, TINY)
    assert r["worst"]["acc"] == 1.0 and r["beyond_pgd7"]["k"] == 0


def test_bn_train_crafting_does_not_depend_on_the_image_order(tiny_model, batch):
    x, _ = batch
    y = _predicted(tiny_model, x)
    perm = torch.tensor([5, 2, 7, 0, 3, 6, 1, 4])
    a = attack_robust(tiny_model, x, y, "pgd", "train", 8 / 255, TINY)
    b = attack_robust(tiny_model, x[perm], y[perm], "pgd", "train", 8 / 255, TINY)
    assert torch.equal(a[perm], b)


def test_bad_input_gets_one_line(tiny_model, batch):
    x, y = batch
    with pytest.raises(SnnlibError, match="outcomes"):
        spike_worst_case(tiny_model, x, y, torch.ones(7, dtype=torch.bool), torch.ones(8, dtype=torch.bool), 0.03, TINY)
    with pytest.raises(SnnlibError, match="eps"):
        SpikeCaseSettings(eps=[2.0]).validated()
    with pytest.raises(SnnlibError, match="steps"):
        SpikeCaseSettings(steps=0).validated()
