"""A hand-written SNN without SpikingJelly, for the audit tests: two LIF layers with their own surrogate.

``build()`` returns the model (state reset on every call); ``build_leaky()`` keeps the membrane between
calls (a stateful model the audit must flag); ``build_probs()`` returns softmax outputs; ``build_bad()``
returns something that is not a module; ``build_wrong_shape()`` and ``build_wrong_classes()`` models whose
outputs are not ``[B, K]`` logits, or have the wrong number of classes.
"""

import torch
from torch import nn


class FastSigmoidSpike(torch.autograd.Function):
    """Heaviside forward, fast-sigmoid surrogate backward (Zenke & Ganguli 2018)."""

    @staticmethod
    def forward(ctx, v):
        ctx.save_for_backward(v)
        return (v >= 0).to(v.dtype)

    @staticmethod
    def backward(ctx, g):
        (v,) = ctx.saved_tensors
        return g / (1 + 10 * v.abs()) ** 2


class TinyLIF(nn.Module):
    def __init__(self, T=4, hidden=32, classes=10, leaky_state=False, probs=False):
        super().__init__()
        torch.manual_seed(0)
        self.fc1, self.fc2 = nn.Linear(3 * 8 * 8, hidden), nn.Linear(hidden, classes)
        self.T, self.leaky_state, self.probs, self.v1 = T, leaky_state, probs, None

    def forward(self, x):
        inp = nn.functional.avg_pool2d(x, 4).flatten(1)
        v = self.v1 if (self.leaky_state and self.v1 is not None and self.v1.shape[0] == len(x)) else None
        v = torch.zeros(len(x), self.fc1.out_features) if v is None else v
        out = 0
        for _ in range(self.T):
            v = 0.5 * v + self.fc1(inp)
            s = FastSigmoidSpike.apply(v - 1.0)
            v = v * (1 - s.detach())
            out = out + self.fc2(s)
        if self.leaky_state:
            self.v1 = v.detach()
        logits = out / self.T
        return logits.softmax(1) if self.probs else logits


def build():
    return TinyLIF()


def build_leaky():
    return TinyLIF(leaky_state=True)


def build_probs():
    return TinyLIF(probs=True)


def build_bad():
    return "not a module"


def build_wrong_shape():
    return nn.Identity()


def build_wrong_classes():
    return nn.Flatten()


#: the smallest audit budgets (seconds on a CPU), for the audit tests
TINY_AUDIT = dict(
    ladder_steps=[2, 4],
    trace_steps=3,
    sweep_steps=2,
    sweep_eps=[8 / 255, 1.0],
    estimator_steps=2,
    apgd_steps=2,
    sapgd_steps=2,
    level_steps=2,
    square_queries=4,
    spsa_steps=2,
    spsa_samples=2,
    transfer_steps=2,
    noise_draws=2,
    eot_samples=2,
    diagnostics_images=0,
    batch_size=8,
)
