"""Layers of the reduced-memory network: autograd functions and the modules using them.

Every function here computes its forward pass in full precision and keeps for backward
only what SPEC section 10 allows (``save`` mode ``stoch`` or ``det``):

- batch-norm input ``x_hat`` (normalised): its sign, exactly (1 bit: it is also the ReLU
  mask), and its magnitude as one stochastic bit per element with a per-channel scale
  ``c = max |x_hat|``: ``|x_hat| ~ c * b``, ``P(b = 1) = |x_hat| / c``, so the estimate
  is unbiased (``det``: ``b = |x_hat| >= c/2``, biased, the ablation). The ReLU output
  that the convolution's weight gradient needs is ``mask * c * b``: no third bit.
- the input image: ``uint8``, exactly (the input batch norm is recomputed from it).
- the average-pool shortcut: nothing but shapes (PyTorch's ``avg_pool2d`` saves its
  whole input, which its backward never reads).

All of it goes through ``ctx.save_for_backward`` as packed ``uint8`` (8 bits per byte),
so autograd's saved-tensor hooks see exactly what is kept. Mode ``fp32`` uses plain
PyTorch ops, the baseline. In evaluation (or under ``torch.no_grad``) every mode runs the
plain ops with the running statistics: the modes differ only in what training keeps.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .quant import binarize_unit, binarized, binary_weight, pack, unpack

__all__ = [
    "SAVE_MODES",
    "BatchNorm",
    "BnReluConv",
    "InputBnConv",
    "PoolShortcut",
    "bn",
    "bn_relu_conv",
    "check_save",
    "input_bn_conv",
    "pool_shortcut",
]

#: What training keeps for backward: plain PyTorch, stochastic bits, deterministic bits.
SAVE_MODES = ("fp32", "stoch", "det")

_CHANNELS = (0, 2, 3)  # the axes a batch-norm statistic is taken over (NCHW)


def _per_channel(v: torch.Tensor) -> torch.Tensor:
    return v.view(1, -1, 1, 1)


def _normalize(
    x: torch.Tensor,
    running_mean: torch.Tensor,
    running_var: torch.Tensor,
    momentum: float,
    eps: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(x_hat, mean, 1/std)`` with batch statistics; updates the running statistics the
    way :func:`torch.nn.functional.batch_norm` does (it is the same kernel)."""
    return torch.native_batch_norm(x, None, None, running_mean, running_var, True, momentum, eps)


def _encode(xhat: torch.Tensor, deterministic: bool) -> tuple[torch.Tensor, ...]:
    """``(sign, magnitude, scale)``: packed exact sign bits, packed magnitude bits and the
    per-channel scale ``c``."""
    mag = xhat.abs()
    scale = mag.amax(dim=_CHANNELS).clamp_min(torch.finfo(xhat.dtype).tiny)
    bits = binarize_unit(mag / _per_channel(scale), deterministic=deterministic)
    return pack(xhat > 0), pack(bits), scale


def _decode(
    sign: torch.Tensor, bits: torch.Tensor, scale: torch.Tensor, shape: torch.Size
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """From :func:`_encode`'s bits: the mask ``x_hat > 0``, the ReLU output estimate
    ``mask * c * b`` and the ``x_hat`` estimate ``(2 mask - 1) * c * b``."""
    mask = unpack(sign, shape)
    mag = unpack(bits, shape).to(scale.dtype).mul_(_per_channel(scale))
    relu = mag * mask
    return mask, relu, relu.mul(2).sub_(mag)  # arithmetic: torch.where is slower on CPU


def _bn_backward(g: torch.Tensor, xhat: torch.Tensor, invstd: torch.Tensor) -> torch.Tensor:
    """Gradient through a training-mode batch norm without scale and offset, given the
    (estimated) normalised input: ``invstd * (g - mean(g) - xhat * mean(g * xhat))``.

    PyTorch's fused kernel computes it when told the input is ``xhat`` itself (mean 0,
    ``1/std`` 1) and the scale is ``invstd``."""
    zeros, ones = invstd.new_zeros(invstd.shape), invstd.new_ones(invstd.shape)
    gx, _, _ = torch.ops.aten.native_batch_norm_backward(
        g, xhat, invstd, None, None, zeros, ones, True, 0.0, [True, False, False]
    )
    return gx


def _conv_backward(
    g: torch.Tensor,
    a: torch.Tensor,
    w: torch.Tensor,
    stride: int,
    padding: int,
    need_input: bool,
) -> tuple[torch.Tensor | None, torch.Tensor]:
    ga, gw, _ = torch.ops.aten.convolution_backward(
        g,
        a,
        w,
        None,
        [stride] * 2,
        [padding] * 2,
        [1, 1],
        False,
        [0, 0],
        1,
        [need_input, True, False],
    )
    return ga, gw


class BnReluConvFn(torch.autograd.Function):
    """Batch norm (batch statistics, no scale or offset), ReLU, convolution (no bias).

    Keeps 2 bits per input element plus per-channel scale and ``1/std``, and the weight.
    """

    @staticmethod
    def forward(
        ctx: object,
        x: torch.Tensor,
        weight: torch.Tensor,
        running_mean: torch.Tensor,
        running_var: torch.Tensor,
        momentum: float,
        eps: float,
        stride: int,
        padding: int,
        deterministic: bool,
        binary: bool,
    ) -> torch.Tensor:
        xhat, _, invstd = _normalize(x, running_mean, running_var, momentum, eps)
        w = binarized(weight) if binary else weight
        y = F.conv2d(F.relu(xhat), w, stride=stride, padding=padding)
        ctx.save_for_backward(*_encode(xhat, deterministic), invstd, weight)
        ctx.shape, ctx.stride, ctx.padding, ctx.binary = x.shape, stride, padding, binary
        return y

    @staticmethod
    def backward(ctx: object, g: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        sign, bits, scale, invstd, weight = ctx.saved_tensors
        mask, a, xhat = _decode(sign, bits, scale, ctx.shape)
        w = binarized(weight) if ctx.binary else weight
        need_x = ctx.needs_input_grad[0]
        ga, gw = _conv_backward(g, a, w, ctx.stride, ctx.padding, need_x)
        gx = _bn_backward(ga.mul_(mask), xhat, invstd) if need_x else None
        return gx, gw, *([None] * 8)


class BnFn(torch.autograd.Function):
    """Batch norm (batch statistics, no scale or offset) alone: the head's last layer."""

    @staticmethod
    def forward(
        ctx: object,
        x: torch.Tensor,
        running_mean: torch.Tensor,
        running_var: torch.Tensor,
        momentum: float,
        eps: float,
        deterministic: bool,
    ) -> torch.Tensor:
        xhat, _, invstd = _normalize(x, running_mean, running_var, momentum, eps)
        ctx.save_for_backward(*_encode(xhat, deterministic), invstd)
        ctx.shape = x.shape
        return xhat

    @staticmethod
    def backward(ctx: object, g: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        sign, bits, scale, invstd = ctx.saved_tensors
        _, _, xhat = _decode(sign, bits, scale, ctx.shape)
        return _bn_backward(g, xhat, invstd), *([None] * 5)


class InputBnConvFn(torch.autograd.Function):
    """The input layer: batch norm with scale and offset on the ``uint8`` image, then a
    convolution. Keeps the image as ``uint8`` (exact) and recomputes the normalised image
    in backward. No gradient flows to the image."""

    @staticmethod
    def forward(
        ctx: object,
        image: torch.Tensor,
        gamma: torch.Tensor,
        beta: torch.Tensor,
        weight: torch.Tensor,
        running_mean: torch.Tensor,
        running_var: torch.Tensor,
        momentum: float,
        eps: float,
        binary: bool,
    ) -> torch.Tensor:
        xhat, mean, invstd = _normalize(
            image.to(weight.dtype), running_mean, running_var, momentum, eps
        )
        z = xhat * _per_channel(gamma) + _per_channel(beta)
        w = binarized(weight) if binary else weight
        ctx.save_for_backward(image, mean, invstd, gamma, beta, weight)
        ctx.binary, ctx.padding = binary, weight.shape[-1] // 2
        return F.conv2d(z, w, padding=ctx.padding)

    @staticmethod
    def backward(ctx: object, g: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        image, mean, invstd, gamma, beta, weight = ctx.saved_tensors
        xhat = (image.to(weight.dtype) - _per_channel(mean)) * _per_channel(invstd)
        z = xhat * _per_channel(gamma) + _per_channel(beta)
        w = binarized(weight) if ctx.binary else weight
        gz, gw = _conv_backward(g, z, w, 1, ctx.padding, True)
        return None, (gz * xhat).sum(_CHANNELS), gz.sum(_CHANNELS), gw, *([None] * 5)


class PoolShortcutFn(torch.autograd.Function):
    """3x3 average pool, stride 2, padding 1 (padding counted), then zero channels up to
    ``out_channels``: the downsampling shortcut. Keeps no tensor at all."""

    @staticmethod
    def forward(ctx: object, x: torch.Tensor, out_channels: int) -> torch.Tensor:
        ctx.shape = x.shape
        return _pool_pad(x, out_channels)

    @staticmethod
    def backward(ctx: object, g: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        n, c, h, w = ctx.shape
        # The backward reads only the input's shape: a zero-stride view stands in for it.
        like = g.new_zeros(()).expand(n, c, h, w)
        gx = torch.ops.aten.avg_pool2d_backward(
            g[:, :c], like, [3, 3], [2, 2], [1, 1], False, True, None
        )
        return gx, None


def _pool_pad(x: torch.Tensor, out_channels: int) -> torch.Tensor:
    y = F.avg_pool2d(x, 3, stride=2, padding=1)
    return F.pad(y, (0, 0, 0, 0, 0, out_channels - x.shape[1]))


# Plain-function forms (STYLE: autograd functions are exported as functions).


def bn_relu_conv(
    x: torch.Tensor,
    weight: torch.Tensor,
    running_mean: torch.Tensor,
    running_var: torch.Tensor,
    *,
    stride: int = 1,
    padding: int = 1,
    momentum: float = 0.1,
    eps: float = 1e-5,
    deterministic: bool = False,
    binary: bool = False,
) -> torch.Tensor:
    """Training-mode ``conv(relu(batch_norm(x)))`` keeping 2 bits per element of ``x``."""
    return BnReluConvFn.apply(
        x,
        weight,
        running_mean,
        running_var,
        momentum,
        eps,
        stride,
        padding,
        deterministic,
        binary,
    )


def bn(
    x: torch.Tensor,
    running_mean: torch.Tensor,
    running_var: torch.Tensor,
    *,
    momentum: float = 0.1,
    eps: float = 1e-5,
    deterministic: bool = False,
) -> torch.Tensor:
    """Training-mode ``batch_norm(x)`` (no scale or offset) keeping 2 bits per element."""
    return BnFn.apply(x, running_mean, running_var, momentum, eps, deterministic)


def input_bn_conv(
    image: torch.Tensor,
    gamma: torch.Tensor,
    beta: torch.Tensor,
    weight: torch.Tensor,
    running_mean: torch.Tensor,
    running_var: torch.Tensor,
    *,
    momentum: float = 0.1,
    eps: float = 1e-5,
    binary: bool = False,
) -> torch.Tensor:
    """Training-mode ``conv(batch_norm(image))`` keeping the ``uint8`` image itself."""
    return InputBnConvFn.apply(
        image, gamma, beta, weight, running_mean, running_var, momentum, eps, binary
    )


def pool_shortcut(x: torch.Tensor, out_channels: int) -> torch.Tensor:
    """The downsampling shortcut, keeping nothing for backward."""
    return PoolShortcutFn.apply(x, out_channels)


# Modules.


def check_save(save: str) -> str:
    """``save`` if it is one of :data:`SAVE_MODES`, else a ``ValueError`` naming them."""
    if save not in SAVE_MODES:
        raise ValueError(f"save must be one of {', '.join(SAVE_MODES)}, not {save!r}")
    return save


def _conv_weight(cin: int, cout: int, k: int) -> nn.Parameter:
    w = torch.empty(cout, cin, k, k)
    nn.init.normal_(w, std=math.sqrt(2.0 / (cin * k * k)))  # He et al. 2015
    return nn.Parameter(w)


class _Saving(nn.Module):
    """Shared state: save mode, binary weights, running statistics of one batch norm."""

    def __init__(self, channels: int, save: str, binary_weights: bool) -> None:
        super().__init__()
        self.save = check_save(save)
        self.binary_weights = bool(binary_weights)
        self.momentum, self.eps = 0.1, 1e-5
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))

    def _custom(self) -> bool:
        """Whether this call uses the bit-saving functions (training with autograd)."""
        return self.save != "fp32" and self.training and torch.is_grad_enabled()

    def _plain_bn(self, x: torch.Tensor, **affine: torch.Tensor) -> torch.Tensor:
        return F.batch_norm(
            x,
            self.running_mean,
            self.running_var,
            training=self.training,
            momentum=self.momentum,
            eps=self.eps,
            **affine,
        )

    def _weight(self, w: torch.Tensor) -> torch.Tensor:
        return binary_weight(w) if self.binary_weights else w


class BnReluConv(_Saving):
    """``conv(relu(batch_norm(x)))``: batch norm without scale or offset, no bias."""

    def __init__(
        self,
        cin: int,
        cout: int,
        kernel: int = 3,
        stride: int = 1,
        *,
        save: str = "fp32",
        binary_weights: bool = False,
    ) -> None:
        super().__init__(cin, save, binary_weights)
        self.weight = _conv_weight(cin, cout, kernel)
        self.stride, self.padding = stride, kernel // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._custom():
            return bn_relu_conv(
                x,
                self.weight,
                self.running_mean,
                self.running_var,
                stride=self.stride,
                padding=self.padding,
                momentum=self.momentum,
                eps=self.eps,
                deterministic=self.save == "det",
                binary=self.binary_weights,
            )
        a = F.relu(self._plain_bn(x))
        return F.conv2d(a, self._weight(self.weight), stride=self.stride, padding=self.padding)


class BatchNorm(_Saving):
    """Batch norm without scale or offset."""

    def __init__(self, channels: int, *, save: str = "fp32") -> None:
        super().__init__(channels, save, False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._custom():
            return bn(
                x,
                self.running_mean,
                self.running_var,
                momentum=self.momentum,
                eps=self.eps,
                deterministic=self.save == "det",
            )
        return self._plain_bn(x)


class InputBnConv(_Saving):
    """Batch norm with scale and offset on the ``uint8`` image, then a 3x3 convolution.

    The input must be a ``uint8`` NCHW image batch: the network keeps it as is."""

    def __init__(
        self, cin: int, cout: int, *, save: str = "fp32", binary_weights: bool = False
    ) -> None:
        super().__init__(cin, save, binary_weights)
        self.gamma = nn.Parameter(torch.ones(cin))
        self.beta = nn.Parameter(torch.zeros(cin))
        self.weight = _conv_weight(cin, cout, 3)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        if image.dtype != torch.uint8 or image.ndim != 4 or image.shape[1] != len(self.gamma):
            raise ValueError(
                f"input must be a uint8 image batch of shape (N, {len(self.gamma)}, H, W), "
                f"not {image.dtype} of shape {tuple(image.shape)}"
            )
        if self._custom():
            return input_bn_conv(
                image,
                self.gamma,
                self.beta,
                self.weight,
                self.running_mean,
                self.running_var,
                momentum=self.momentum,
                eps=self.eps,
                binary=self.binary_weights,
            )
        z = self._plain_bn(image.to(self.weight.dtype), weight=self.gamma, bias=self.beta)
        return F.conv2d(z, self._weight(self.weight), padding=1)


class PoolShortcut(nn.Module):
    """Downsampling shortcut: 3x3 average pool with stride 2, then zero channels."""

    def __init__(self, out_channels: int, *, save: str = "fp32") -> None:
        super().__init__()
        self.out_channels = out_channels
        self.save = check_save(save)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.save != "fp32" and torch.is_grad_enabled():
            return pool_shortcut(x, self.out_channels)
        return _pool_pad(x, self.out_channels)
