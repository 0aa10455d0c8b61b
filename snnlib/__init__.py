"""snnlib: reproduce, check and extend Luu et al., "Accuracy-robustness trade-off via
spiking neural network gradient sparsity trail".

The flow: ``config`` (a validated experiment) -> ``data`` -> ``build`` (classifier + splits)
-> ``train`` -> ``checkpoints`` (and the committed model zoo) -> ``attacks`` / ``evaluation`` /
``probes`` / ``audit`` -> ``results`` (small JSON files) -> ``report`` and ``plots`` (the book).

Modules: ``places`` (the one reader of environment variables), ``encoding`` (phase / rate /
direct coding), ``models`` (SEW and Spiking ResNets on SpikingJelly, ``SpikingClassifier``),
``kernels`` (fused IF neuron, GEMM gradients), ``authors`` (the authors' pipeline, once),
``experiments`` (cached config-level runs), ``stats``, ``theory``, ``paper`` (the paper's
numbers), ``bench``, ``cli``.
"""

from .errors import CheckpointError, DataNotFoundError, NotApplicable, SnnlibError

__version__ = "0.2.0"
__all__ = ["SnnlibError", "DataNotFoundError", "CheckpointError", "NotApplicable", "__version__"]
