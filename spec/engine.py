"""The inference engine's shape and schedule: how the gateware walks an integer network
(:class:`spec.IntNetSpec`) one pass at a time.

The engine keeps everything on chip in four buffers of words of ``lanes`` channels of
one pixel: two stream buffers ``x0``/``x1`` (the residual stream of a stage, exact
integers; stages alternate between them) and two code buffers ``c0``/``c1`` (a layer's
input codes). Every pass walks its outputs (pixel by pixel, a group of ``lanes``
channels at a time) and, per output, a window of steps (taps and input groups), one
step a cycle, then sends the output through the post-operation
``y = shortcut + floor((x * M + C) / 2**s)`` (clamped into codes where the target is a
code buffer), pipelined so that the next output's steps run meanwhile. The kinds:

- ``load``: the image into ``x0``, one pixel channel (a byte) a cycle;
- ``window``: a 1x1 (a stream through a per-channel rule into codes) or 3x3 stride-2
  window (the pooled shortcut of a block that halves the resolution: the next stage's
  stream before its block adds to it) summed over a stream buffer;
- ``conv``: a convolution of a code buffer through the ``lanes x lanes`` add/subtract
  array; its output is codes (a block's first convolution), the stream (the stem: its
  bias added; a block's second convolution: added onto the stream in place) or the
  head's sums over positions;
- ``logits``: the per-class rule on the head's sums, one logit a cycle out.

:meth:`EngineSpec.passes` is that program for a network and :meth:`EngineSpec.cycles`
its cycles, exact for an unstalled run (the gateware's tests check it against
simulation); the estimator reads the same count.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._base import SpecBase, check_int
from .network import IntNetSpec

__all__ = ["BANK_WORDS", "CODE_BITS", "PEEK_LATENCY", "EngineSpec", "Pass", "banks"]

#: Width of every code in the engine's code buffers: the stem's input codes are 8-bit.
CODE_BITS = 8
#: Words of one bank of an engine memory deeper than this: the depth of one block RAM
#: at its widest port on both targets (an xc7 RAMB36 as 512 x 72, an ECP5 DP16KD as
#: 512 x 36), so that no bank is cascaded in depth behind a multiplexer (:func:`banks`).
BANK_WORDS = 512


def banks(words: int) -> tuple[int, int]:
    """Banks of an engine memory of ``words`` words, and words per bank: one bank as
    deep as the memory, or as many banks of :data:`BANK_WORDS` as it fills (word ``w``
    in bank ``w // BANK_WORDS``; the last bank padded to full depth). Nextpnr-ecp5
    reported the multiplexer after block RAMs cascaded in depth as the engine's
    slowest path; the gateware and the estimator both size memories from this."""
    if words <= BANK_WORDS:
        return 1, words
    return -(-words // BANK_WORDS), BANK_WORDS


@dataclass(frozen=True)
class Pass:
    """One pass of the program.

    Attributes
    ----------
    kind : str
        ``load``, ``window``, ``conv`` or ``logits``.
    name : str
        What it computes: the convolution (``conv``), the rule (a 1x1 ``window``:
        ``blocks.0.conv1.in``) or ``blocks.K.pool`` (a pooling ``window``).
    src, dst : str
        Buffers read and written: ``x0``, ``x1``, ``c0``, ``c1``; ``dst`` may also be
        ``sum`` (the head's sums) and ``logits`` (the output stream).
    rule : str
        The requantization rule of the post-operation (a key of
        :attr:`model.intnet.IntNetwork.requant`), ``stem.bias`` (``M = 1``, ``C`` the
        stem's bias) or empty (the identity).
    size_in, size_out : int
        Side of the input and output maps.
    kernel, stride : int
        The window (padding ``kernel // 2``, zero codes or the stem's zero point).
    cin, cout : int
        Channels read per pixel and written per output pixel.
    shortcut : bool
        Add the output onto what ``dst`` holds at the same place.
    """

    kind: str
    name: str
    src: str = ""
    dst: str = ""
    rule: str = ""
    size_in: int = 0
    size_out: int = 0
    kernel: int = 1
    stride: int = 1
    cin: int = 0
    cout: int = 0
    shortcut: bool = False

    @property
    def layer(self) -> str:
        """The value of ``model.infer.run(..., trace=True)`` that this pass's output
        equals: a convolution's input codes (``NAME.codes``) or the stream after the
        stem or a block (``stem.out``, ``blocks.K.out``); empty for the image's load, a
        pooled shortcut, the head's sums and the logits, which have no traced value."""
        if self.kind == "window" and self.rule:
            return self.rule.removesuffix(".in") + ".codes"
        if self.kind != "conv" or self.dst == "sum":
            return ""
        if self.name == "stem":
            return "stem.out"
        if self.dst.startswith("c"):
            return self.rule.removesuffix(".in") + ".codes"
        return self.name.removesuffix(".conv2") + ".out"


#: Cycles every ``window`` and ``conv`` pass adds to its steps: its description read
#: and register, the window walker's start, and the drain until its last output is
#: written (the walker's stages, the read, its hold and register, the add/subtract
#: array, the output's tag register, the rule's address register, its read, hold and
#: register, the requantization's four stages, the write's register).
PASS_OVERHEAD = 22
#: Cycles the ``logits`` pass adds to the logits it sends: once its description read
#: and register, and per group of ``lanes`` classes the sums to the rule, the rule's
#: tag and address registers, its read, hold and register and the requantization.
LOGITS_OVERHEAD, LOGITS_GROUP_OVERHEAD = 2, 10
#: Cycles from a stopped engine's ``peek_addr`` and ``peek_lane`` to its ``peek``: the
#: address register, the read, its hold, the choice of buffer, the choice of lane.
PEEK_LATENCY = 5


@dataclass(frozen=True)
class EngineSpec(SpecBase):
    """The engine's parallelism.

    Parameters
    ----------
    lanes : int
        Input channels summed and output channels produced per cycle (a ``lanes x lanes``
        array of add/subtract cells); channel counts that are not a multiple of it are
        zero-padded to one (the padding costs cycles, not correctness). A power of two,
        1..64.
    """

    lanes: int = 16

    def __post_init__(self) -> None:
        check_int("lanes", self.lanes, 1, 64)
        if self.lanes & (self.lanes - 1):
            raise ValueError(f"lanes must be a power of two, not {self.lanes}")

    def groups(self, channels: int) -> int:
        """Words of ``lanes`` channels that hold ``channels`` (the last zero-padded)."""
        return -(-channels // self.lanes)

    def passes(self, net: IntNetSpec) -> tuple[Pass, ...]:
        """The program that computes ``net``, in order."""
        convs = {c.name: c for c in net.convs()}
        size, x = net.image_size, "x0"

        def codes(rule: str, channels: int, side: int) -> Pass:  # a stream into codes
            return Pass("window", rule, x, "c0", rule, side, side, 1, 1, channels, channels)

        stem = convs["stem"]
        out = [
            Pass("load", "image", "", "x0", "", size, size, cin=net.in_channels,
                 cout=net.in_channels),
            codes("stem.in", net.in_channels, size),
            Pass("conv", "stem", "c0", "x0", "stem.bias", size, size, 3, 1, stem.cin, stem.cout),
        ]  # fmt: skip
        for k, name in enumerate(net.block_names()):
            c1, c2 = convs[f"{name}.conv1"], convs[f"{name}.conv2"]
            out.append(codes(f"{c1.name}.in", c1.cin, c1.size_in))
            out.append(Pass("conv", c1.name, "c0", "c1", f"{c2.name}.in", c1.size_in,
                            c1.size_out, 3, c1.stride, c1.cin, c1.cout))  # fmt: skip
            if net.is_pool_block(k):
                new = "x1" if x == "x0" else "x0"
                out.append(Pass("window", f"{name}.pool", x, new, "", c1.size_in, c1.size_out,
                                3, 2, c1.cin, c2.cout))  # fmt: skip
                x = new
            out.append(Pass("conv", c2.name, "c1", x, f"{name}.add", c2.size_in, c2.size_out,
                            3, 1, c2.cin, c2.cout, shortcut=True))  # fmt: skip
        head = convs["head"]
        out.append(codes("head.in", head.cin, head.size_in))
        out.append(Pass("conv", "head", "c0", "sum", "", head.size_in, head.size_out, 1, 1,
                        head.cin, head.cout))  # fmt: skip
        out.append(Pass("logits", "logits", "sum", "logits", "logits", cin=net.num_classes,
                        cout=net.num_classes))  # fmt: skip
        return tuple(out)

    def layers(self, net: IntNetSpec) -> dict[str, tuple[int, int]]:
        """The passes whose output can be read back (:attr:`Pass.layer` not empty):
        layer name -> (pass index, words of its output)."""
        return {p.layer: (i, self.outputs(p)) for i, p in enumerate(self.passes(net)) if p.layer}

    def buffers(self, net: IntNetSpec) -> dict[str, int]:
        """Words each buffer (``x0``, ``x1``, ``c0``, ``c1``) must hold: the most any pass
        reads from it or writes to it."""
        depth = dict.fromkeys(("x0", "x1", "c0", "c1"), 1)
        for p in self.passes(net):
            for buf, words in ((p.src, p.size_in**2 * self.groups(p.cin)),
                               (p.dst, p.size_out**2 * self.groups(p.cout))):  # fmt: skip
                if buf in depth:
                    depth[buf] = max(depth[buf], words)
        return depth

    def weight_words(self, net: IntNetSpec) -> int:
        """Words of ``lanes * lanes`` weight bits: per convolution, output groups times
        taps times input groups."""
        return sum(self.groups(c.cout) * c.kernel**2 * self.groups(c.cin) for c in net.convs())

    def steps(self, p: Pass) -> int:
        """Cycles per output word: taps times input groups (a convolution) or taps (a
        window)."""
        return p.kernel * p.kernel * (self.groups(p.cin) if p.kind == "conv" else 1)

    def outputs(self, p: Pass) -> int:
        """Output words of a ``window`` or ``conv`` pass."""
        return p.size_out * p.size_out * self.groups(p.cout)

    def pass_cycles(self, p: Pass) -> int:
        """Cycles of one pass, unstalled: a byte a cycle (``load``); a step a cycle plus
        :data:`PASS_OVERHEAD` (``window``, ``conv``); a logit a cycle plus the fetch of
        each group (``logits``)."""
        if p.kind == "load":
            return p.size_in * p.size_in * p.cin
        if p.kind == "logits":
            return LOGITS_OVERHEAD + self.groups(p.cin) * LOGITS_GROUP_OVERHEAD + p.cin
        return self.outputs(p) * self.steps(p) + PASS_OVERHEAD

    def cycles(self, net: IntNetSpec) -> int:
        """Cycles per image, from its first pixel in to its last logit out, unstalled."""
        return sum(self.pass_cycles(p) for p in self.passes(net))

    def useful_macs(self, net: IntNetSpec) -> int:
        """Add/subtracts of the network's convolutions, without padding: what the
        utilization counts."""
        return sum(c.size_out**2 * c.cout * c.fan_in for c in net.convs())

    def utilization(self, net: IntNetSpec) -> float:
        """Useful add/subtracts over the array's ``lanes**2`` cells times all cycles."""
        return self.useful_macs(net) / (self.lanes**2 * self.cycles(net))
