"""The layer table of WRN-(6n+2)-k as :mod:`model.nn.wrn` builds it, without torch.

Each :class:`Layer` is one of the network's parts with what the estimator needs: shapes,
parameter count, multiply-accumulates and the tensors its backward keeps.
"""

from __future__ import annotations

from dataclasses import dataclass

from spec._base import check_int

__all__ = ["Layer", "Network", "wrn"]


@dataclass(frozen=True)
class Layer:
    """One part of the network, for one image.

    ``kind`` is ``stem`` (input batch norm with scale and offset, then a 3x3 convolution),
    ``bn_relu_conv``, ``bn`` (the head's last batch norm) or ``loss`` (softmax
    cross-entropy). ``cin x h_in x w_in`` is its input, ``cout x h_out x w_out`` its
    output; ``kernel`` and ``stride`` describe the convolution, if any.
    """

    name: str
    kind: str
    cin: int
    h_in: int
    w_in: int
    cout: int
    h_out: int
    w_out: int
    kernel: int = 0
    stride: int = 1

    @property
    def in_elements(self) -> int:
        """Input elements per image."""
        return self.cin * self.h_in * self.w_in

    @property
    def out_elements(self) -> int:
        """Output elements per image."""
        return self.cout * self.h_out * self.w_out

    @property
    def fan_in(self) -> int:
        """Weights per output element (0 without a convolution)."""
        return self.cin * self.kernel * self.kernel

    @property
    def conv_params(self) -> int:
        """Convolution weights."""
        return self.cout * self.fan_in

    @property
    def params(self) -> int:
        """Trainable parameters: convolution weights, plus the stem's scale and offset."""
        return self.conv_params + (2 * self.cin if self.kind == "stem" else 0)

    @property
    def bn_channels(self) -> int:
        """Channels of this layer's batch norm (running mean and variance each)."""
        if self.kind in ("stem", "bn_relu_conv"):
            return self.cin
        return self.cout if self.kind == "bn" else 0

    @property
    def macs(self) -> int:
        """Multiply-accumulates of the forward pass, per image."""
        return self.out_elements * self.fan_in


@dataclass(frozen=True)
class Network:
    """A WRN's layers in forward order, with its configuration."""

    depth: int
    width: int
    num_classes: int
    size: int
    layers: tuple[Layer, ...]

    @property
    def params(self) -> int:
        """Trainable parameters."""
        return sum(layer.params for layer in self.layers)

    @property
    def macs(self) -> int:
        """Forward multiply-accumulates per image."""
        return sum(layer.macs for layer in self.layers)


#: Widest and deepest networks the estimator describes (far beyond any trained WRN: k = 10,
#: depth 40 in Zagoruyko and Komodakis 2016); beyond them its figures stop meaning much.
MAX_WIDTH, MAX_DEPTH = 1024, 1000


def wrn(depth: int = 20, width: int = 1, num_classes: int = 10, size: int = 32) -> Network:
    """The layer table of WRN-``depth``-``width`` on ``size`` x ``size`` RGB images.

    ``depth`` is ``6n + 2`` (20 for McDonnell's WRN-20); ``size`` must be divisible by 4
    (two stride-2 stages).
    """
    check_int("depth", depth, 8, MAX_DEPTH)
    check_int("width", width, 1, MAX_WIDTH)
    check_int("num_classes", num_classes, 2)
    check_int("size", size, 4)
    if (depth - 2) % 6:
        raise ValueError(f"depth must be 6n + 2 (8, 14, 20, 26, ...), not {depth}")
    if size % 4:
        raise ValueError(f"size must be divisible by 4 (two stride-2 stages), not {size}")
    blocks = (depth - 2) // 6
    chans = (16 * width, 32 * width, 64 * width)
    layers = [Layer("stem", "stem", 3, size, size, chans[0], size, size, kernel=3)]
    cin, s = chans[0], size
    index = 0
    for stage, cout in enumerate(chans):
        for b in range(blocks):
            stride = 2 if stage > 0 and b == 0 else 1
            s_out = s // stride
            prefix = f"blocks.{index}"
            layers.append(
                Layer(f"{prefix}.conv1", "bn_relu_conv", cin, s, s, cout, s_out, s_out, 3, stride)
            )
            layers.append(
                Layer(f"{prefix}.conv2", "bn_relu_conv", cout, s_out, s_out, cout, s_out, s_out, 3)
            )
            cin, s, index = cout, s_out, index + 1
    layers.append(Layer("head", "bn_relu_conv", cin, s, s, num_classes, s, s, kernel=1))
    layers.append(Layer("head_bn", "bn", num_classes, s, s, num_classes, s, s))
    layers.append(Layer("loss", "loss", num_classes, 1, 1, 1, 1, 1))
    return Network(depth, width, num_classes, size, tuple(layers))
