"""Layers of the reduced-memory network: autograd functions and the modules using them.

Every function here computes its forward pass in full precision (or in the autocast
dtype) and keeps for backward only what SPEC section 10 allows (``save`` modes
``stoch``, ``det``, ``det_mse``):

- batch-norm input ``x_hat`` (normalised): its sign, exactly (1 bit: it is also the ReLU
  mask), and its magnitude as a 1-bit code with a per-channel level ``L``:
  ``|x_hat| ~ L * b``. ``stoch``: ``L = c = max |x_hat|``, ``P(b = 1) = |x_hat| / c``,
  so the estimate is unbiased. ``det``: ``L = c``, ``b = |x_hat| >= c/2`` (biased, the
  ablation of SPEC section 3). ``det_mse``: the threshold and level of least squared
  error per channel on the batch (:func:`_mse_code`). The ReLU output that the
  convolution's weight gradient needs is ``mask * L * b``: no third bit.
- the input image: ``uint8``, exactly (the input batch norm is recomputed from it).
- the average-pool shortcut: nothing but shapes (PyTorch's ``avg_pool2d`` saves its
  whole input, which its backward never reads).

All of it goes through ``ctx.save_for_backward`` as packed ``uint8`` (8 bits per byte),
so autograd's saved-tensor hooks see exactly what is kept.

**Peak memory.** Keeping 2 bits per element is only half the story: a user sees the
peak of a training step. So the work is done in chunks of whole samples of about
:data:`CHUNK_ELEMENTS` elements: normalising, encoding, ReLU and the convolution in
forward, decoding, the convolution's backward and the batch-norm backward in backward.
No full-size temporary exists beyond a layer's input and output, and a residual block
(:func:`residual_block`) adds its second convolution into its input in place (like
``ReLU(inplace=True)``) and computes its backward in one buffer, so a step holds about
two tensors of the widest layer besides the bits. Batch statistics come first, from one
pass over the chunks (sums in float64, Chan's merge), then the chunks are encoded.

Mode ``fp32`` uses plain PyTorch ops, the baseline. In evaluation (or under
``torch.no_grad``) every mode runs the plain ops with the running statistics: the modes
differ only in what training keeps. Under ``torch.autocast`` the convolutions run in the
autocast dtype; statistics, codes and the batch-norm backward stay in float32, and the
stored bits are the same.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from spec import SAVE_MODES
from spec import TRAIN_CHUNK_ELEMENTS as CHUNK_ELEMENTS

from .quant import binarize_unit, binarized, binary_weight, pack, unpack_float

__all__ = [
    "CHUNK_ELEMENTS",
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
    "residual_block",
]

#: Bins of ``|x_hat| / c`` from which ``det_mse`` picks its threshold.
MSE_BINS = 64

_CHANNELS = (0, 2, 3)  # the axes a batch-norm statistic is taken over (NCHW)
_F32, _F64 = torch.float32, torch.float64


def _per_channel(v: torch.Tensor) -> torch.Tensor:
    return v.view(1, -1, 1, 1)


def _chunks(shape: torch.Size) -> list[slice]:
    """Slices of whole samples, about :data:`CHUNK_ELEMENTS` elements each, starting on a
    byte boundary of the packed bits (and so on a word of four random draws)."""
    n, per = shape[0], math.prod(shape[1:])
    align = 8 // math.gcd(per, 8)
    step = -(-max(1, CHUNK_ELEMENTS // max(per, 1)) // align) * align
    return [slice(i, min(i + step, n)) for i in range(0, n, step)]


def _byte_range(s: slice, shape: torch.Size) -> slice:
    per = math.prod(shape[1:])
    return slice(s.start * per // 8, -(-s.stop * per // 8))


def _amp_dtype(t: torch.Tensor) -> torch.dtype | None:
    """The autocast dtype in force for ``t``'s device, or ``None``."""
    kind = t.device.type
    return torch.get_autocast_dtype(kind) if torch.is_autocast_enabled(kind) else None


def distributed() -> bool:
    """Whether a process group of more than one rank is running (``torchrun``): then
    every batch norm takes its statistics over the global batch (synchronised batch
    norm), so that N ranks with B/N images each compute what one process with B does."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def _sum_over_ranks(*vectors: torch.Tensor) -> list[torch.Tensor]:
    """``vectors`` (float64) summed over all ranks, in one collective."""
    if not distributed():
        return list(vectors)
    flat = torch.cat([v.reshape(-1) for v in vectors])
    dist.all_reduce(flat)
    return list(flat.split([v.numel() for v in vectors]))


@dataclass(frozen=True)
class ConvConfig:
    """One BN-ReLU-conv layer's settings and running statistics (updated in place)."""

    running_mean: torch.Tensor
    running_var: torch.Tensor
    momentum: float
    eps: float
    stride: int
    padding: int
    save: str
    binary: bool


@dataclass(frozen=True)
class _Stats:
    """Batch statistics of a batch norm's input, float32, per channel."""

    mean: torch.Tensor
    invstd: torch.Tensor
    scale: torch.Tensor  # c = max |x_hat|, never 0


def _batch_stats(x: torch.Tensor, cfg: ConvConfig, chunks: list[slice]) -> _Stats:
    """Mean, ``1/std`` (biased variance, as batch norm normalises with) and ``max |x_hat|``
    per channel, from two passes over the chunks; updates the running statistics the way
    :func:`torch.nn.functional.batch_norm` does (unbiased variance)."""
    local = torch.zeros(x.shape[1], dtype=_F64, device=x.device)
    for s in chunks:
        local += x[s].sum(_CHANNELS, dtype=_F64)
    count = torch.full((1,), x.numel() // x.shape[1], dtype=_F64, device=x.device)
    total, count = _sum_over_ranks(local, count)
    n = float(count)
    mean = (total / n).to(_F32)
    m2 = torch.zeros_like(total)
    peak = torch.zeros_like(mean)
    for s in chunks:
        d = x[s].to(_F32) - _per_channel(mean)
        d.abs_()
        peak = torch.maximum(peak, d.amax(_CHANNELS))
        m2 += d.square_().sum(_CHANNELS, dtype=_F64)
    (m2,) = _sum_over_ranks(m2)
    if distributed():
        dist.all_reduce(peak, op=dist.ReduceOp.MAX)
    var = m2 / n
    invstd = torch.rsqrt(var + cfg.eps).to(_F32)
    with torch.no_grad():
        unbiased = m2 / max(n - 1, 1)
        cfg.running_mean.mul_(1 - cfg.momentum).add_(cfg.momentum * mean.to(cfg.running_mean))
        cfg.running_var.mul_(1 - cfg.momentum).add_(cfg.momentum * unbiased.to(cfg.running_var))
    # Rounding is monotone, so this is exactly the largest |(x - mean) * invstd|: p <= 1.
    scale = (peak * invstd).clamp_min(torch.finfo(_F32).tiny)
    return _Stats(mean, invstd, scale)


def _normalized(x: torch.Tensor, s: slice, st: _Stats) -> torch.Tensor:
    """``x_hat`` of one chunk, a new float32 tensor."""
    return (x[s].to(_F32) - _per_channel(st.mean)).mul_(_per_channel(st.invstd))


def _mse_code(x: torch.Tensor, st: _Stats, chunks: list[slice]) -> tuple[torch.Tensor, ...]:
    """``det_mse``'s per-channel threshold and level: over thresholds ``t = c * k / K``
    (``K`` = :data:`MSE_BINS`, ``k = 1 .. K-1``), the one whose code ``b = |x_hat| >= t``,
    decoded as ``L * b`` with ``L`` the mean of the magnitudes at or above ``t``, has the
    least squared error on the batch (that error is ``sum m**2 - S**2 / N``, ``S`` and
    ``N`` the sum and count above ``t``). Returns ``(k, L)``."""
    channels = x.shape[1]
    count = torch.zeros(channels * MSE_BINS, dtype=_F64, device=x.device)
    total = torch.zeros_like(count)
    offset = _per_channel(torch.arange(channels, device=x.device) * MSE_BINS)
    for s in chunks:
        m = _normalized(x, s, st).abs_()
        u = m.div(_per_channel(st.scale)).mul_(MSE_BINS)
        idx = (u.floor_().clamp_max_(MSE_BINS - 1).long() + offset).view(-1)
        count.index_add_(0, idx, torch.ones_like(idx, dtype=_F64))
        total.index_add_(0, idx, m.view(-1).to(_F64))
    above_n = count.view(channels, MSE_BINS).flip(1).cumsum(1).flip(1)[:, 1:]
    above_s = total.view(channels, MSE_BINS).flip(1).cumsum(1).flip(1)[:, 1:]
    gain = torch.where(above_n > 0, above_s.square() / above_n.clamp_min(1), -1.0)
    k = gain.argmax(1, keepdim=True)
    level = (above_s.gather(1, k) / above_n.gather(1, k).clamp_min(1)).squeeze(1)
    level = torch.where(level > 0, level.to(_F32), st.scale)
    return (k.squeeze(1) + 1).to(_F32), level


def _magnitude_bits(
    xhat: torch.Tensor, st: _Stats, save: str, mse: tuple[torch.Tensor, ...] | None
) -> torch.Tensor:
    """The 1-bit magnitude code of one chunk's ``x_hat`` (``bool``)."""
    p = xhat.abs().div_(_per_channel(st.scale))
    if save == "det_mse":
        assert mse is not None
        return p.mul_(MSE_BINS).ge_(_per_channel(mse[0])).bool()
    return binarize_unit(p, deterministic=save == "det")


def _encode(
    x: torch.Tensor,
    cfg: ConvConfig,
    each: Callable[[slice, torch.Tensor], None],
) -> tuple[torch.Tensor, ...]:
    """Normalise ``x`` with batch statistics, chunk by chunk; keep its sign and magnitude
    bits and hand each chunk's ``x_hat`` (float32, the caller may overwrite it) to
    ``each(slice, x_hat)``. Returns what backward needs: ``(sign, bits, level, invstd)``."""
    chunks = _chunks(x.shape)
    st = _batch_stats(x, cfg, chunks)
    mse = _mse_code(x, st, chunks) if cfg.save == "det_mse" else None
    nbytes = -(-x.numel() // 8)
    sign = torch.empty(nbytes, dtype=torch.uint8, device=x.device)
    bits = torch.empty_like(sign)
    for s in chunks:
        xhat = _normalized(x, s, st)
        b = _byte_range(s, x.shape)
        sign[b] = pack(xhat > 0)
        bits[b] = pack(_magnitude_bits(xhat, st, cfg.save, mse))
        each(s, xhat)
    level = st.scale if mse is None else mse[1]
    return sign, bits, level, st.invstd


def _decoded(
    sign: torch.Tensor, bits: torch.Tensor, level: torch.Tensor, shape: torch.Size, s: slice
) -> tuple[torch.Tensor, torch.Tensor]:
    """One chunk's ReLU-output estimate ``mask * L * b`` and mask, float32."""
    b = _byte_range(s, shape)
    cshape = (s.stop - s.start, *shape[1:])
    relu = unpack_float(sign[b] & bits[b], cshape).mul_(_per_channel(level))
    return relu, unpack_float(sign[b], cshape)


def _signed(
    sign: torch.Tensor, bits: torch.Tensor, level: torch.Tensor, shape: torch.Size, s: slice
) -> torch.Tensor:
    """One chunk's ``x_hat`` estimate ``(2 mask - 1) * L * b``, float32."""
    b = _byte_range(s, shape)
    cshape = (s.stop - s.start, *shape[1:])
    pos = unpack_float(sign[b] & bits[b], cshape)
    neg = unpack_float(~sign[b] & bits[b], cshape)
    return pos.sub_(neg).mul_(_per_channel(level))


def _bn_finish(
    out: torch.Tensor,
    sums: tuple[torch.Tensor, torch.Tensor],
    saved: tuple[torch.Tensor, ...],
    shape: torch.Size,
) -> None:
    """Turn ``out``, holding the gradient ``g`` at a batch norm's output, into the
    gradient at its input, in place: ``invstd * (g - mean(g) - x_hat * mean(g x_hat))``
    (no scale or offset), ``x_hat`` the estimate from the bits. ``sums`` are ``sum(g)``
    and ``sum(g x_hat)`` per channel."""
    sign, bits, level, invstd = saved
    count = torch.full((1,), out.numel() // out.shape[1], dtype=_F64, device=out.device)
    sum_g, sum_gx, count = _sum_over_ranks(*sums, count)
    n = float(count)
    mean_g = _per_channel((sum_g / n).to(_F32))
    coeff = _per_channel((sum_gx / n).to(_F32) * invstd)
    for s in _chunks(shape):
        g = out[s].to(_F32)
        g.sub_(mean_g).mul_(_per_channel(invstd))
        g.sub_(_signed(sign, bits, level, shape, s).mul_(coeff))
        if g.data_ptr() != out[s].data_ptr():
            out[s] = g


def _conv_forward(
    x: torch.Tensor, weight: torch.Tensor, cfg: ConvConfig, out: torch.Tensor | None
) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
    """``conv(relu(batch_norm(x)))`` chunk by chunk, into a new tensor or added into
    ``out``; returns the result and what :func:`_conv_backward` needs."""
    w = binarized(weight) if cfg.binary else weight
    amp = _amp_dtype(x)
    if amp is not None:  # cast once per layer: autocast would cache every layer's copy
        w = w.to(amp)
    result: list[torch.Tensor | None] = [out]

    def conv(s: slice, xhat: torch.Tensor) -> None:
        y = F.conv2d(xhat.clamp_min_(0), w, stride=cfg.stride, padding=cfg.padding)
        if result[0] is None:
            result[0] = y.new_empty((x.shape[0], *y.shape[1:]))
            result[0][s] = y
        elif out is None:
            result[0][s] = y
        else:
            out[s] += y

    saved = _encode(x, cfg, conv)
    assert result[0] is not None
    return result[0], saved


def _conv_backward(
    g: torch.Tensor,
    saved: tuple[torch.Tensor, ...],
    weight: torch.Tensor,
    cfg: ConvConfig,
    shape: torch.Size,
    out: torch.Tensor | None,
) -> torch.Tensor:
    """The weight gradient of :func:`_conv_forward`, and, when ``out`` is given, the
    input gradient written into it (``out`` may be ``g`` itself when the shapes agree:
    each chunk of ``g`` is read before that chunk of ``out`` is written)."""
    sign, bits, level, _ = saved
    w = (binarized(weight) if cfg.binary else weight).to(g.dtype)
    gw = torch.zeros_like(weight, dtype=_F32)
    sums = [torch.zeros(shape[1], dtype=_F64, device=g.device) for _ in range(2)]
    for s in _chunks(shape):
        relu, mask = _decoded(sign, bits, level, shape, s)
        ga, gw_s, _ = torch.ops.aten.convolution_backward(
            g[s],
            relu.to(g.dtype),
            w,
            None,
            [cfg.stride] * 2,
            [cfg.padding] * 2,
            [1, 1],
            False,
            [0, 0],
            1,
            [out is not None, True, False],
        )
        gw += gw_s
        if out is not None:
            ga = ga.to(_F32).mul_(mask)
            sums[0] += ga.sum(_CHANNELS, dtype=_F64)
            # Where the mask is 0 the gradient is 0; where it is 1, x_hat's estimate is relu.
            sums[1] += (ga * relu).sum(_CHANNELS, dtype=_F64)
            out[s] = ga
    if out is not None:
        _bn_finish(out, (sums[0], sums[1]), saved, shape)
    return gw.to(weight.dtype)


def _check_mode(cfg: ConvConfig) -> None:
    if cfg.save not in SAVE_MODES[1:]:
        raise ValueError(f"save must be one of {', '.join(SAVE_MODES[1:])}, not {cfg.save!r}")


class BnReluConvFn(torch.autograd.Function):
    """Batch norm (batch statistics, no scale or offset), ReLU, convolution (no bias).

    Keeps 2 bits per input element plus per-channel level and ``1/std``, and the weight.
    """

    @staticmethod
    def forward(
        ctx: object, x: torch.Tensor, weight: torch.Tensor, cfg: ConvConfig
    ) -> torch.Tensor:
        _check_mode(cfg)
        y, saved = _conv_forward(x, weight, cfg, None)
        ctx.save_for_backward(*saved, weight)
        ctx.cfg, ctx.shape = cfg, x.shape
        return y

    @staticmethod
    def backward(ctx: object, g: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        *saved, weight = ctx.saved_tensors
        gx = g.new_empty(ctx.shape) if ctx.needs_input_grad[0] else None
        gw = _conv_backward(g.contiguous(), tuple(saved), weight, ctx.cfg, ctx.shape, gx)
        return gx, gw, None


class ResidualBlockFn(torch.autograd.Function):
    """A whole residual block, ``conv2(conv1(x)) + shortcut(x)``, each conv a BN-ReLU-conv
    keeping 2 bits per input element. The shortcut is the identity (``pool = False``:
    the result is added into ``x`` in place, which is returned) or the 3x3 stride-2
    average pool and zero channels (``pool = True``). Backward needs one buffer of the
    block's inner width besides the incoming gradient (and, with the pool, the input's
    gradient)."""

    @staticmethod
    def forward(
        ctx: object,
        x: torch.Tensor,
        w1: torch.Tensor,
        w2: torch.Tensor,
        cfg1: ConvConfig,
        cfg2: ConvConfig,
        pool: bool,
    ) -> torch.Tensor:
        _check_mode(cfg1)
        _check_mode(cfg2)
        y1, saved1 = _conv_forward(x, w1, cfg1, None)
        if pool:
            out = _pool_pad(x, w2.shape[0])
        else:
            out = x
            ctx.mark_dirty(x)
        _, saved2 = _conv_forward(y1, w2, cfg2, out)
        ctx.save_for_backward(*saved1, *saved2, w1, w2)
        ctx.cfg, ctx.pool, ctx.shapes = (cfg1, cfg2), pool, (x.shape, y1.shape)
        return out

    @staticmethod
    def backward(ctx: object, g: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        *saved, w1, w2 = ctx.saved_tensors
        (xs, ys), (cfg1, cfg2) = ctx.shapes, ctx.cfg
        g = g.contiguous()
        buf = g.new_empty(ys)
        gw2 = _conv_backward(g, tuple(saved[4:]), w2, cfg2, ys, buf)
        if ctx.pool:
            gx = g.new_empty(xs)
            gw1 = _conv_backward(buf, tuple(saved[:4]), w1, cfg1, xs, gx)
            for s in _chunks(xs):
                gx[s] += _pool_backward(g[s], (s.stop - s.start, *xs[1:]))
        else:
            gw1 = _conv_backward(buf, tuple(saved[:4]), w1, cfg1, xs, buf)
            gx = buf.add_(g)
        return gx, gw1, gw2, None, None, None


class BnFn(torch.autograd.Function):
    """Batch norm (batch statistics, no scale or offset) alone: the head's last layer."""

    @staticmethod
    def forward(ctx: object, x: torch.Tensor, cfg: ConvConfig) -> torch.Tensor:
        _check_mode(cfg)
        y = torch.empty_like(x)

        def copy(s: slice, xhat: torch.Tensor) -> None:
            y[s] = xhat

        ctx.save_for_backward(*_encode(x, cfg, copy))
        return y

    @staticmethod
    def backward(ctx: object, g: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        saved = ctx.saved_tensors
        out = g.to(_F32, copy=True)
        whole = slice(0, g.shape[0])
        xhat = _signed(*saved[:3], g.shape, whole)
        sums = (out.sum(_CHANNELS, dtype=_F64), (out * xhat).sum(_CHANNELS, dtype=_F64))
        _bn_finish(out, sums, saved, g.shape)
        return out.to(g.dtype), None


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
        cfg = ConvConfig(running_mean, running_var, momentum, eps, 1, 1, "stoch", binary)
        whole = [slice(0, image.shape[0])]
        st = _batch_stats(image, cfg, whole)
        mean, invstd = st.mean, st.invstd
        z = _normalized(image, whole[0], st).mul_(_per_channel(gamma)).add_(_per_channel(beta))
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
        ga, gw, _ = torch.ops.aten.convolution_backward(
            g, z.to(g.dtype), w.to(g.dtype), None, [1, 1], [ctx.padding] * 2, [1, 1], False,
            [0, 0], 1, [True, True, False],
        )  # fmt: skip
        gz = ga.to(_F32)
        return (
            None,
            (gz * xhat).sum(_CHANNELS),
            gz.sum(_CHANNELS),
            gw.to(weight.dtype),
            *([None] * 5),
        )


class PoolShortcutFn(torch.autograd.Function):
    """3x3 average pool, stride 2, padding 1 (padding counted), then zero channels up to
    ``out_channels``: the downsampling shortcut. Keeps no tensor at all."""

    @staticmethod
    def forward(ctx: object, x: torch.Tensor, out_channels: int) -> torch.Tensor:
        ctx.shape = x.shape
        return _pool_pad(x, out_channels)

    @staticmethod
    def backward(ctx: object, g: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        return _pool_backward(g, ctx.shape), None


def _pool_pad(x: torch.Tensor, out_channels: int) -> torch.Tensor:
    y = F.avg_pool2d(x, 3, stride=2, padding=1)
    return F.pad(y, (0, 0, 0, 0, 0, out_channels - x.shape[1]))


def _pool_backward(g: torch.Tensor, shape: tuple[int, ...] | torch.Size) -> torch.Tensor:
    """Gradient of :func:`_pool_pad` at an input of ``shape``, given ``g`` at its output."""
    n, c, h, w = shape
    # The backward reads only the input's shape: a zero-stride view stands in for it.
    like = g.new_zeros(()).expand(n, c, h, w)
    return torch.ops.aten.avg_pool2d_backward(
        g[:, :c], like, [3, 3], [2, 2], [1, 1], False, True, None
    )


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
    save: str = "stoch",
    binary: bool = False,
) -> torch.Tensor:
    """Training-mode ``conv(relu(batch_norm(x)))`` keeping 2 bits per element of ``x``."""
    cfg = ConvConfig(running_mean, running_var, momentum, eps, stride, padding, save, binary)
    return BnReluConvFn.apply(x, weight, cfg)


def residual_block(
    x: torch.Tensor,
    w1: torch.Tensor,
    w2: torch.Tensor,
    cfg1: ConvConfig,
    cfg2: ConvConfig,
    *,
    pool: bool,
) -> torch.Tensor:
    """Training-mode ``conv2(conv1(x)) + shortcut(x)`` keeping 2 bits per element of each
    convolution's input. Without ``pool`` the shortcut is the identity and the sum is
    written into ``x`` in place (``x`` must not be needed afterwards); with ``pool`` it
    is the stride-2 average pool and zero channels of :func:`pool_shortcut`."""
    return ResidualBlockFn.apply(x, w1, w2, cfg1, cfg2, pool)


def bn(
    x: torch.Tensor,
    running_mean: torch.Tensor,
    running_var: torch.Tensor,
    *,
    momentum: float = 0.1,
    eps: float = 1e-5,
    save: str = "stoch",
) -> torch.Tensor:
    """Training-mode ``batch_norm(x)`` (no scale or offset) keeping 2 bits per element."""
    cfg = ConvConfig(running_mean, running_var, momentum, eps, 1, 0, save, False)
    return BnFn.apply(x, cfg)


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


class _SumOverRanks(torch.autograd.Function):
    """A tensor summed over all ranks; the gradient of a sum that every rank's loss reads
    is the sum of their gradients, so backward sums over the ranks too."""

    @staticmethod
    def forward(ctx: object, t: torch.Tensor) -> torch.Tensor:
        out = t.clone()
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx: object, g: torch.Tensor) -> torch.Tensor:
        return _SumOverRanks.forward(ctx, g)


def _sync_batch_norm(
    x: torch.Tensor,
    bn: _Saving,
    weight: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
) -> torch.Tensor:
    """Training-mode batch norm over the global batch of all ranks, in plain differentiable
    ops: the ``fp32`` baseline under ``torchrun``. (PyTorch's ``SyncBatchNorm`` runs on
    CUDA only.)"""
    all_reduce = _SumOverRanks.apply
    count = x.new_full((1,), float(x.numel() // x.shape[1]))
    dist.all_reduce(count)
    mean = all_reduce(x.sum(_CHANNELS)) / count
    d = x - _per_channel(mean)
    var = all_reduce(d.square().sum(_CHANNELS)) / count
    y = d * _per_channel(torch.rsqrt(var + bn.eps))
    with torch.no_grad():
        m = bn.momentum
        bn.running_mean.mul_(1 - m).add_(m * mean)
        bn.running_var.mul_(1 - m).add_(m * var * count / (count - 1).clamp_min(1))
    if weight is not None and bias is not None:
        y = y * _per_channel(weight) + _per_channel(bias)
    return y


class _Saving(nn.Module):
    """Shared state: save mode, binary weights, running statistics of one batch norm."""

    def __init__(self, channels: int, save: str, binary_weights: bool) -> None:
        super().__init__()
        self.save = check_save(save)
        self.binary_weights = bool(binary_weights)
        self.momentum, self.eps = 0.1, 1e-5
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))

    def custom(self) -> bool:
        """Whether this call uses the bit-saving functions (training with autograd)."""
        return self.save != "fp32" and self.training and torch.is_grad_enabled()

    def _plain_bn(self, x: torch.Tensor, **affine: torch.Tensor) -> torch.Tensor:
        if self.training and distributed():
            return _sync_batch_norm(x, self, **affine)
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

    def config(self) -> ConvConfig:
        """This layer's settings for the bit-saving functions."""
        return ConvConfig(
            self.running_mean,
            self.running_var,
            self.momentum,
            self.eps,
            self.stride,
            self.padding,
            self.save,
            self.binary_weights,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.custom():
            return BnReluConvFn.apply(x, self.weight, self.config())
        a = F.relu(self._plain_bn(x))
        return F.conv2d(a, self._weight(self.weight), stride=self.stride, padding=self.padding)


class BatchNorm(_Saving):
    """Batch norm without scale or offset."""

    def __init__(self, channels: int, *, save: str = "fp32") -> None:
        super().__init__(channels, save, False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.custom():
            return bn(
                x,
                self.running_mean,
                self.running_var,
                momentum=self.momentum,
                eps=self.eps,
                save=self.save,
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
        if self.custom():
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
