"""McDonnell's wide residual network with 20 weight layers, WRN-20-k (SPEC section 10).

Pre-activation: the input batch norm (with scale and offset) and a 3x3 convolution to
``16k`` channels; three stages of three blocks at ``16k``, ``32k``, ``64k`` channels, each
block ``x + conv(relu(bn(conv(relu(bn(x))))))`` (block batch norms have no scale or
offset); the first block of stages 2 and 3 halves the resolution with a stride-2
convolution, its shortcut a 3x3 average pool of stride 2 and zero channels; the head is
batch norm, ReLU, 1x1 convolution to the classes, batch norm, global average pool.
McDonnell, "Training wide residual networks for deployment using a single bit for each
weight", ICLR 2018.
"""

from __future__ import annotations

from torch import Tensor, nn

from spec._base import check_int

from .layers import BatchNorm, BnReluConv, InputBnConv, PoolShortcut, check_save, residual_block

__all__ = ["Block", "WideResNet", "wrn20"]


class Block(nn.Module):
    """Two BN-ReLU-conv layers and a shortcut (identity, or pool-and-pad when the
    resolution halves).

    In training with a bit-saving mode the block is one autograd function
    (:func:`model.nn.layers.residual_block`) that holds at most two tensors of its width
    at a time; with the identity shortcut it adds into its input in place, so the input
    must not be needed after the call (as with ``ReLU(inplace=True)``)."""

    def __init__(self, cin: int, cout: int, stride: int, save: str, binary: bool) -> None:
        super().__init__()
        self.conv1 = BnReluConv(cin, cout, 3, stride, save=save, binary_weights=binary)
        self.conv2 = BnReluConv(cout, cout, 3, 1, save=save, binary_weights=binary)
        self.shortcut = PoolShortcut(cout, save=save) if stride != 1 else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        if self.conv1.custom():
            c1, c2 = self.conv1, self.conv2
            pool = isinstance(self.shortcut, PoolShortcut)
            return residual_block(x, c1.weight, c2.weight, c1.config(), c2.config(), pool=pool)
        return self.conv2(self.conv1(x)) + self.shortcut(x)


class WideResNet(nn.Module):
    """WRN-(6n+2)-k: ``blocks`` blocks per stage (3 for WRN-20).

    The input is a ``uint8`` NCHW image batch; the output, logits ``(N, num_classes)``.
    ``save`` chooses what training keeps for backward (:data:`model.nn.layers.SAVE_MODES`);
    ``binary_weights`` trains every convolution with 1-bit weights (SPEC section 2).
    """

    def __init__(
        self,
        *,
        width: int,
        num_classes: int,
        blocks: int = 3,
        in_channels: int = 3,
        save: str = "fp32",
        binary_weights: bool = False,
    ) -> None:
        super().__init__()
        check_int("width", width, 1)
        check_int("num_classes", num_classes, 2)
        check_int("blocks", blocks, 1)
        self.save, self.binary_weights = check_save(save), bool(binary_weights)
        chans = [16 * width, 32 * width, 64 * width]
        self.stem = InputBnConv(in_channels, chans[0], save=save, binary_weights=binary_weights)
        layers, cin = [], chans[0]
        for stage, cout in enumerate(chans):
            for b in range(blocks):
                stride = 2 if stage > 0 and b == 0 else 1
                layers.append(Block(cin, cout, stride, save, binary_weights))
                cin = cout
        self.blocks = nn.Sequential(*layers)
        self.head = BnReluConv(cin, num_classes, 1, save=save, binary_weights=binary_weights)
        self.head_bn = BatchNorm(num_classes, save=save)

    def forward(self, image: Tensor) -> Tensor:
        x = self.blocks(self.stem(image))
        return self.head_bn(self.head(x)).mean(dim=(2, 3))


def wrn20(
    width: int, num_classes: int, save: str = "fp32", binary_weights: bool = False
) -> nn.Module:
    """WRN-20-``width`` for 32x32 RGB ``uint8`` images (20 weight layers).

    >>> net = wrn20(1, 10)
    >>> sum(p.numel() for p in net.parameters() if p.dim() == 4)
    268336
    """
    return WideResNet(
        width=width, num_classes=num_classes, save=save, binary_weights=binary_weights
    )
