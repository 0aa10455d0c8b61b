"""``python -m snnlib bench``: snnlib against the authors' pipeline, same weights, same batch, one process.

*The authors' pipeline* is :mod:`snnlib.authors` (their encoder loop, training step and evaluation
with ``loss.backward(retain_graph=True)`` and ``reset_net`` after every forward). *snnlib's path*
is the library: :class:`~snnlib.models.SpikingClassifier` with the vectorised
:class:`~snnlib.encoding.PhaseEncoder`, :func:`snnlib.train.train_step`, and FGSM / PGD under the
authors' threat model with input-only gradients, plus :mod:`snnlib.kernels` and the frozen-parameter
threat model. Modules: :mod:`.variants` (what runs), :mod:`.measure` (memory, sync, input),
:mod:`.checks` (equality), :mod:`.roofline`, :mod:`.run`, :mod:`.levers` (speed levers measured beside snnlib's
path), :mod:`.profile` (where the time goes, the medium epoch); :mod:`.denormals` (trained models' denormal BN scales).
"""

from .checks import GRAD_TOL, LOGIT_TOL
from .denormals import denormal_effect, denormal_scales
from .measure import peak_memory
from .run import FULL, QUICK, TARGET_SPEEDUP, for_build, run
from .variants import EXTRAS, LEVERS, VARIANTS, Bench, snnlib_variant

__all__ = [
    "EXTRAS",
    "FULL",
    "GRAD_TOL",
    "LEVERS",
    "LOGIT_TOL",
    "QUICK",
    "TARGET_SPEEDUP",
    "VARIANTS",
    "Bench",
    "denormal_effect",
    "denormal_scales",
    "for_build",
    "peak_memory",
    "run",
    "snnlib_variant",
]
