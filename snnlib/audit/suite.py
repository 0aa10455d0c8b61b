"""The audit suite as a loop over checks (:data:`CHECKS`), sharing one :class:`Suite` state.

Attacks run on the clean-correct samples only; a sample counts as robust to an attack if it is
classified correctly both clean and under the attack. Every attack of the standard threat model
(pixel space, BN in eval mode, the suite's eps) enters the per-sample worst case. With ``keep_examples``
(on inside :func:`keeping_examples`) a suite also keeps, per attack that returns its inputs, the adversarial
inputs of the images it breaks (``suite.examples``), so the worst case can be checked (:mod:`.verify`).
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from contextvars import ContextVar

import torch

from ..attacks import ThreatModel, batch_indices
from .legacy import upgrade
from .records import AttackRecord
from .settings import AuditSettings


def stepsize(eps: float, steps: int) -> float:
    """PGD step for a given budget (Madry et al.): 2.5 eps / steps."""
    return 2.5 * eps / steps


_KEEP = ContextVar("keep_examples", default=False)


@contextmanager
def keeping_examples():
    """Suites made inside this block keep the adversarial inputs of the images their attacks break."""
    token = _KEEP.set(True)
    try:
        yield
    finally:
        _KEEP.reset(token)


def batch_generator(seed: int, i: int) -> torch.Generator:
    """The generator of batch ``i`` of a run seeded ``seed``: runs with one seed share their random starts."""
    return torch.Generator().manual_seed(int(seed) * 100003 + int(i))


class Suite:
    """One audit run: the model, the images, the attacked (clean-correct) subset and what was found."""

    def __init__(
        self,
        model,
        x,
        y,
        settings: AuditSettings,
        device="cpu",
        ann=None,
        snn_source=None,
        n_classes: int = 10,
        labels: dict | None = None,
        extra_sources: dict | None = None,
        keep_examples: bool | None = None,
    ):
        self.s, self.device, self.n_classes = settings, device, n_classes
        self.model = model.to(device).eval()
        self.x, self.y = x.to(device), y.to(device)
        self.sources = {"ann": ann, "snn": snn_source, **(extra_sources or {})}
        self.labels = labels or {}
        self.std = ThreatModel(self.model, "pixel", "eval")
        self.n, self.bs, self.eps = len(y), settings.batch_size, settings.eps
        self.robust, self.attacks, self.extra, self.timings = {}, [], {}, {}
        self.keep_examples = _KEEP.get() if keep_examples is None else keep_examples
        self.examples = {}  # attack name -> {"index": positions in x, "x_adv": inputs}, broken images only
        self.att = None  # indices of the clean-correct samples, set by the clean check
        self.deterministic = True  # two forwards agree (set by the clean check)
        self._t0 = self.t_start = time.time()

    def key(self, k: int) -> int:
        """The seed of section ``k`` of the suite."""
        return int(self.s.seed) * 1000 + k

    def gen(self, k: int) -> torch.Generator:
        return torch.Generator().manual_seed(self.key(k))

    @property
    def attacked(self):
        """Images and labels of the clean-correct subset."""
        d = self.att.to(self.device)
        return self.x[d], self.y[d]

    def batched(self, fn, x=None, y=None, seed=None, threat=None) -> torch.Tensor:
        """Apply ``fn(xb, yb) -> bool[b]`` (or ``fn(xb, yb, generator)`` if ``seed`` is given) over batches of
        the attacked subset (or of ``x, y``). With a registered ``threat`` (:mod:`snnlib.attacks.registry`) whose
        batches are shuffled (BN in train mode: the authors' loader), its batch order and size are used; the
        result is in the subset's order either way."""
        if x is None:
            x, y = self.attacked
        if len(y) == 0:
            return torch.zeros(0, dtype=torch.bool)
        if threat is not None and threat.batch_order != "dataset":
            index = batch_indices(x, y, threat.batch_size or self.bs, threat.batch_order, int(self.s.seed))
        else:
            index = [torch.arange(i, min(i + self.bs, len(y))) for i in range(0, len(y), self.bs)]
        out = torch.zeros(len(y), dtype=torch.bool)
        for i, b in enumerate(index):
            d = b.to(x.device)
            extra = () if seed is None else (batch_generator(seed, int(b[0]) if threat is None else i),)
            out[b] = fn(x[d], y[d], *extra).cpu()
        return out

    def adversarial(self, fn, seed=None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Run ``fn(xb, yb) -> x_adv`` (``fn(xb, yb, generator)`` if ``seed`` is given) over the attacked subset:
        robustness over all N samples (robust: still classified correctly), and the adversarial inputs of the
        attacked subset where ``keep_examples`` (else None)."""
        kept = []

        def one(xb, yb, *g):
            adv = fn(xb, yb, *g)
            if self.keep_examples:
                kept.append(adv.detach().cpu())
            return self.std.predict(adv) == yb

        v = self.full(self.batched(one, seed=seed))
        return v, (torch.cat(kept) if kept else None)

    def full(self, v) -> torch.Tensor:
        """Robustness on the attacked subset -> all N samples (not attacked: not robust)."""
        out = torch.zeros(self.n, dtype=torch.bool)
        out[self.att] = torch.as_tensor(v, dtype=torch.bool).cpu()
        return out

    def record(self, rid: str, label: str, group: str, v, x_adv=None, **fields):
        """Keep one attack: its :class:`~.records.AttackRecord` (``fields``: eps, threat, steps, restarts, queries,
        estimator, in_worst_case, note, ...) and per-image robustness ``v`` under the id ``rid``; with
        ``keep_examples``, the inputs ``x_adv`` (over the attacked subset, from :meth:`adversarial`) of the images it
        breaks."""
        self.robust[rid] = v
        if self.keep_examples and x_adv is not None and self.att is not None and len(x_adv) == len(self.att):
            broken = ~torch.as_tensor(v, dtype=torch.bool)[self.att]
            self.examples[rid] = {"index": self.att[broken].clone(), "x_adv": x_adv[broken].clone()}
        fields.setdefault("eps", self.eps)
        self.attacks.append(
            AttackRecord(rid, label, group, robust=torch.as_tensor(v, dtype=torch.bool), **fields).row()
        )

    def skip(self, rid: str, label: str, group: str, reason: str):
        """Record an attack that does not apply to this model, and why."""
        self.extra.setdefault("skipped", []).append({"id": rid, "attack": label, "group": group, "reason": reason})

    def clock(self, name):
        self.timings[name] = time.time() - self._t0
        self._t0 = time.time()

    def state(self, done: list) -> dict:
        """What the finished checks found, for a partial file that a resumed run restarts from."""
        return {
            "done": list(done),
            "att": None if self.att is None else self.att.tolist(),
            "deterministic": self.deterministic,
            "attacks": self.attacks,
            "extra": self.extra,
            "timings": self.timings,
            "robust": {k: v.int().tolist() for k, v in self.robust.items()},
        }

    def restore(self, st: dict) -> list:
        """Load a :meth:`state`; return the names of the checks it had finished."""
        st = upgrade(st)  # a partial run written before attack records had ids
        self.att = None if st["att"] is None else torch.tensor(st["att"], dtype=torch.long)
        self.deterministic, self.attacks, self.extra = st["deterministic"], st["attacks"], st["extra"]
        self.timings = st["timings"]
        self.robust = {k: torch.tensor(v, dtype=torch.bool) for k, v in st["robust"].items()}
        return list(st["done"])

    def result(self) -> dict:
        kept = {"examples": self.examples} if self.keep_examples else {}  # tensors: :mod:`.verify` takes them out
        return {
            "n_eval": self.n,
            "n_attacked": len(self.att),
            "attacks": self.attacks,
            **self.extra,
            "per_sample": {k: v.int().tolist() for k, v in self.robust.items()},
            "timings": self.timings,
            "attack_time_s": time.time() - self.t_start,
            **kept,
        }
