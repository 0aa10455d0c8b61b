"""snnlib: reproduce, check and extend Luu et al., "Accuracy-robustness trade-off via
spiking neural network gradient sparsity trail".

Modules: ``encoding`` (phase / rate / direct coding), ``models`` (SEW and Spiking
ResNets on SpikingJelly, ``SpikingClassifier``), ``data``, ``config``, ``train``,
``attacks`` (FGSM, PGD, threat models, torchattacks), ``probes`` (gradient sparsity),
``experiments`` (cached end-to-end runs), ``results``.
"""

from .errors import CheckpointError, DataNotFoundError, SnnlibError

__version__ = "0.1.0"
__all__ = ["SnnlibError", "DataNotFoundError", "CheckpointError", "__version__"]
