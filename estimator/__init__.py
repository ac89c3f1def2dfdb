"""Design-space estimator: memory, energy and FPGA resources of a configuration, without
building it (``python -m estimator``, ``python -m estimator.sweep``).

Pure Python and numpy (no torch, no amaranth), so it answers in well under a second. Its
saved-activation counts follow :mod:`model.nn` exactly and are checked against
``python -m bench.memory``; its FPGA figures come from a model fitted to the project's
own Yosys runs and are checked against fresh ones.
"""

from .core import Config, estimate

__all__ = ["Config", "estimate"]
