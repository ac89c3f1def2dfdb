"""The inference engine's shape and schedule: how the gateware walks an integer network
(:class:`spec.IntNetSpec`) one pass at a time.

The engine keeps a layer's input and output on chip and runs three kinds of pass:

- ``requant``: every stored value of the stream through a per-channel rule into codes,
  ``lanes`` channels a cycle;
- ``conv``: for every output pixel and group of ``lanes`` output channels, the sums of
  every tap and group of ``lanes`` input channels (``lanes * lanes`` multiply-free
  add/subtracts a cycle), then a post-operation on the ``lanes`` sums: a per-channel rule
  into codes (first convolution of a block), the block's add onto its shortcut (second),
  the stem's bias, or the head's sum over positions;
- ``logits``: the per-class rule on the head's sums.

:meth:`EngineSpec.passes` is that program for a network; :meth:`EngineSpec.cycles` the
cycles it takes, which the gateware's tests check and the estimator reads.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._base import SpecBase, check_int
from .network import ConvLayer, IntNetSpec

__all__ = ["EngineSpec", "Pass"]


@dataclass(frozen=True)
class Pass:
    """One pass of the program.

    Attributes
    ----------
    kind : str
        ``requant``, ``conv`` or ``logits``.
    name : str
        The rule (``requant``) or convolution (``conv``) it runs.
    post : str
        A conv's post-operation: ``stem`` (add the bias, start the stream), ``codes``
        (a per-channel rule into codes), ``add`` (the block's add onto the shortcut),
        ``pool_add`` (the same onto the pooled shortcut), ``sum`` (the head's sum over
        positions); empty for the other kinds.
    conv : ConvLayer or None
        The convolution of a ``conv`` pass.
    pixels, channels : int
        What a ``requant`` pass reads: positions and channels.
    """

    kind: str
    name: str
    post: str = ""
    conv: ConvLayer | None = None
    pixels: int = 0
    channels: int = 0


@dataclass(frozen=True)
class EngineSpec(SpecBase):
    """The engine's parallelism.

    Parameters
    ----------
    lanes : int
        Input channels summed and output channels produced per cycle (a ``lanes x lanes``
        array of add/subtract cells); every layer's channel count but the stem's input
        must be a multiple of it. A power of two, 1..64.
    """

    lanes: int = 8

    def __post_init__(self) -> None:
        check_int("lanes", self.lanes, 1, 64)
        if self.lanes & (self.lanes - 1):
            raise ValueError(f"lanes must be a power of two, not {self.lanes}")

    def groups(self, channels: int) -> int:
        """Groups of ``lanes`` channels (the last one zero-padded)."""
        return -(-channels // self.lanes)

    def check(self, net: IntNetSpec) -> None:
        """Refuse a network the engine cannot run: hidden channel counts not a multiple
        of ``lanes``."""
        for c in net.stage_channels:
            if c % self.lanes:
                raise ValueError(
                    f"the engine's lanes={self.lanes} must divide every stage's channels, "
                    f"not {net.stage_channels}"
                )

    def passes(self, net: IntNetSpec) -> tuple[Pass, ...]:
        """The program that computes ``net``, in order."""
        self.check(net)
        convs = {c.name: c for c in net.convs()}
        size = net.image_size
        out = [Pass("requant", "stem.in", pixels=size * size, channels=net.in_channels),
               Pass("conv", "stem", "stem", convs["stem"])]  # fmt: skip
        for k, name in enumerate(net.block_names()):
            c1, c2 = convs[f"{name}.conv1"], convs[f"{name}.conv2"]
            out.append(Pass("requant", f"{c1.name}.in", pixels=c1.size_in**2, channels=c1.cin))
            out.append(Pass("conv", c1.name, "codes", c1))
            out.append(Pass("conv", c2.name, "pool_add" if net.is_pool_block(k) else "add", c2))
        head = convs["head"]
        out.append(Pass("requant", "head.in", pixels=head.size_in**2, channels=head.cin))
        out.append(Pass("conv", "head", "sum", head))
        out.append(Pass("logits", "logits"))
        return tuple(out)

    def pass_cycles(self, p: Pass) -> int:
        """Cycles of one pass in the schedule (without pipeline fill): a requant pass
        one per pixel and channel group; a conv pass, per output pixel and output
        group, one per tap and input group (the pooled shortcut adds nine reads); the
        logits one per class."""
        if p.kind == "requant":
            return p.pixels * self.groups(p.channels)
        if p.kind == "logits":
            return 1
        c = p.conv
        assert c is not None
        per_output = c.kernel * c.kernel * self.groups(c.cin) + (9 if p.post == "pool_add" else 0)
        return c.size_out * c.size_out * self.groups(c.cout) * per_output

    def cycles(self, net: IntNetSpec) -> int:
        """Cycles of the whole program."""
        return sum(self.pass_cycles(p) for p in self.passes(net))
