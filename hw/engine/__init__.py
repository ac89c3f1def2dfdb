"""The inference engine: a whole integer network (``docs/formats.md`` section 6c) on
chip, one pass at a time (:class:`spec.engine.EngineSpec`).

:class:`~hw.engine.engine.Engine` holds the network's weights and integers in on-chip
memory (baked in at build time), takes an image as a pixel stream and gives its logits
as a stream, bit-exact with :func:`model.infer.run`. Its blocks: the window walker
that issues a pass's reads (:mod:`hw.engine.window`), the add/subtract array
(:mod:`hw.engine.mac`) and the requantization unit with the residual add
(:mod:`hw.engine.requant`).
"""

from .engine import Engine
from .mac import MacArray
from .requant import RequantUnit
from .window import WindowWalker

__all__ = ["Engine", "MacArray", "RequantUnit", "WindowWalker"]
