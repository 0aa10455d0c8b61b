"""The audit's black-box checks (Athalye et al. 2018; Carlini et al. 2019): Square, SPSA, and transfer from the ANN
twin, another SNN and the same weights behind rate coding. None of them follows the model's own gradient."""

from __future__ import annotations

import torch

from .. import models
from ..attacks import EOTPGD, PGD, SPSA, ThreatModel
from ..encoding import RateEncoder
from . import records as R
from .primitives import robust_of, suite_torchattack, has_phase
from .suite import Suite, stepsize


def rate_twin(model):
    """The same weights behind Poisson rate coding (a transfer source): None unless ``model`` is phase coded."""
    if not has_phase(model):
        return None
    return models.SpikingClassifier(
        model.net, RateEncoder(T=model.encoder.T, generator=torch.Generator().manual_seed(0))
    ).eval()


def _transfer(suite, j, rid, name, src, source: str, eot=False):
    s = suite.s
    st = ThreatModel(src.to(suite.device).eval(), "pixel", "eval")
    alpha, g = stepsize(suite.eps, s.transfer_steps), suite.gen(50 + j)
    atk = (
        EOTPGD(st, suite.eps, alpha, s.transfer_steps, s.eot_samples, g)
        if eot
        else PGD(st, suite.eps, alpha, s.transfer_steps, generator=g)
    )
    v, xa = suite.adversarial(atk)
    kind = f"EOT-PGD-{s.transfer_steps}" if eot else f"PGD-{s.transfer_steps}"
    note = f"{kind} on {source}"
    suite.record(rid, name, "black-box", v, x_adv=xa, steps=s.transfer_steps, note=note)


def check_square(suite: Suite):
    """4: Square (Andriushchenko et al. 2020), a score-based black-box attack."""
    q = suite.s.square_queries
    v, xa = suite_torchattack(suite, "square", n_queries=q)
    suite.record(R.SQUARE, f"Square-{q}", "black-box", v, x_adv=xa, queries=q, note=f"{q} queries")


def check_spsa(suite: Suite):
    """4: SPSA (Uesato et al. 2018), a gradient-free estimate of the gradient."""
    s = suite.s
    v = robust_of(suite, lambda g: SPSA(suite.std, suite.eps, s.spsa_steps, s.spsa_samples, generator=g))
    note = f"{s.spsa_steps} iterations x {s.spsa_samples} direction pairs"
    suite.record(R.SPSA, f"SPSA-{s.spsa_steps}", "black-box", v, steps=s.spsa_steps, note=note)


def check_transfer(suite: Suite):
    """4: transfer from the ANN twin, another SNN and the same weights behind rate coding."""
    for j, (name, key) in enumerate((("transfer: ANN twin", "ann"), ("transfer: other SNN", "snn"))):
        if suite.sources.get(key) is not None:
            _transfer(suite, j, R.TRANSFER[key], name, suite.sources[key], suite.labels.get(key, key))
    rate, rid = rate_twin(suite.model), R.TRANSFER["rate"]
    if rate is not None:
        _transfer(suite, 2, rid, "transfer: rate-coded twin", rate, "the same weights with Poisson rate coding", True)
    else:
        suite.skip(rid, "transfer: rate-coded twin", "black-box", "needs a phase-coded SNN")
