"""Trained binary weights in the hardware's format, and the check that the datapath model
computes a trained layer exactly.

:func:`export_weights` writes every convolution's weight bits, per filter in
:attr:`spec.WeightEncoding.FILTER_ORDER` packed LSB first into ``word_bits`` words
(:class:`spec.PackingSpec`), with its ``alpha``. :func:`check_layer` quantizes the input
of one trained convolution to 8-bit codes (SPEC section 2), computes the layer through
:func:`model.xnor_acc.dot` in ``code`` mode (integers, as the gateware would) and compares
it with PyTorch's convolution of the same quantized input.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

import spec
from fileio import npz_bytes, write_atomic
from spec import ActivationEncoding, DatapathSpec, PackingSpec, WeightEncoding

from ..pack import pack_bits
from ..xnor_acc import dot
from .layers import BnReluConv, InputBnConv
from .quant import binarized

__all__ = ["check_layer", "conv_codes", "export_weights", "filter_bits"]


def filter_bits(weight: torch.Tensor) -> np.ndarray:
    """``(out, kh*kw*in)`` weight bits (1 for ``w >= 0``) in the spec's filter order."""
    if weight.dim() != 4:
        raise ValueError(f"weight must be a 4-D convolution weight, not shape {weight.shape}")
    bits = (weight.detach() >= 0).permute(0, 2, 3, 1)  # (out, kh, kw, in): in fastest
    return bits.reshape(weight.shape[0], -1).cpu().numpy().astype(np.uint8)


def _convs(net: torch.nn.Module) -> list[tuple[str, torch.nn.Module]]:
    return [(n, m) for n, m in net.named_modules() if isinstance(m, BnReluConv | InputBnConv)]


def export_weights(net: torch.nn.Module, path: Path, word_bits: int = 32) -> dict[str, Any]:
    """Write ``path`` (``.npz``, atomically): for each convolution ``name``, the packed
    filters ``name.words`` (``(out, words)``), ``name.shape`` (out, in, kh, kw) and
    ``name.alpha``; plus ``word_bits`` and the spec ``fingerprint``. Returns the arrays."""
    packing = PackingSpec(word_bits=word_bits)
    arrays: dict[str, Any] = {
        "word_bits": np.array(word_bits),
        "fingerprint": np.array(spec.fingerprint()),
    }
    for name, conv in _convs(net):
        w = conv.weight
        bits = filter_bits(w)
        arrays[f"{name}.words"] = np.stack([pack_bits(row, packing.word_bits) for row in bits])
        arrays[f"{name}.shape"] = np.array(w.shape)
        arrays[f"{name}.alpha"] = np.array(WeightEncoding.alpha(w[0].numel()))
    write_atomic(Path(path), npz_bytes(arrays))
    return arrays


def conv_codes(
    weight: torch.Tensor, codes: torch.Tensor, *, stride: int, padding: int, act_bits: int = 8
) -> np.ndarray:
    """A convolution of unsigned activation ``codes`` (``(N, in, H, W)`` integers) with
    the bits of ``weight``, through :func:`model.xnor_acc.dot` in ``code`` mode: each
    output is the exact integer ``sum (2w - 1) * q`` over the filter window."""
    out_ch, _, kh, kw = weight.shape
    n = codes.shape[0]
    cols = F.unfold(codes.double(), (kh, kw), padding=padding, stride=stride)
    length = cols.shape[-1]
    cols = cols.view(n, -1, kh * kw, length).permute(0, 3, 2, 1).reshape(n * length, -1)
    acts = cols.round().long().numpy()
    bits = filter_bits(weight)
    lanes = 32
    dp = DatapathSpec(lanes=lanes, act_bits=act_bits, max_beats=math.ceil(bits.shape[1] / lanes))
    out = np.stack(
        [dot(np.broadcast_to(bits[o], acts.shape), acts, "code", dp) for o in range(out_ch)],
        axis=1,
    )
    h_out = (codes.shape[2] + 2 * padding - kh) // stride + 1
    return out.reshape(n, h_out, length // h_out, out_ch).transpose(0, 3, 1, 2)


def check_layer(
    net: torch.nn.Module,
    images: torch.Tensor,
    layer: str = "blocks.0.conv1",
    act_bits: int = 8,
) -> dict[str, Any]:
    """Run ``images`` through ``net`` (evaluation mode) and check convolution ``layer``
    (a :class:`~model.nn.layers.BnReluConv`) on its input quantized to unsigned
    ``act_bits`` codes (SPEC 2, per-tensor ``scale``): the datapath model's integers
    against PyTorch's convolution of the same quantized input with the layer's binarized
    weights (computed in float64).

    ``equal`` holds when PyTorch's outputs, divided by ``alpha * scale / 2**act_bits``
    (``alpha`` as the layer holds it), round to exactly the datapath's integers;
    ``max_abs_diff`` is their largest distance from them (float rounding only).
    Returns a dict with ``layer``, ``outputs`` (how many were compared),
    ``max_abs_diff``, ``equal`` and a one-line ``summary``.
    """
    conv = net.get_submodule(layer)
    if not isinstance(conv, BnReluConv):
        raise ValueError(f"layer {layer!r} is not a BN-ReLU-conv layer")
    seen: list[torch.Tensor] = []
    hook = conv.register_forward_pre_hook(lambda _m, args: seen.append(args[0]))
    net.eval()
    with torch.no_grad():
        net(images)
        a = F.relu(conv._plain_bn(seen[0])).double().cpu()
    hook.remove()
    enc = ActivationEncoding(act_bits=act_bits)
    scale = float(a.max()) or 1.0
    q = torch.clamp(torch.floor(a / scale * enc.levels), 0, enc.max_code)
    w = conv.weight.detach().cpu()
    acc = torch.from_numpy(
        conv_codes(w, q, stride=conv.stride, padding=conv.padding, act_bits=act_bits)
    )
    w_layer = binarized(w)  # the layer's own weights, +-alpha in its dtype
    step = float(w_layer.abs().max()) * scale / enc.levels
    ref = F.conv2d(
        q * (scale / enc.levels), w_layer.double(), stride=conv.stride, padding=conv.padding
    )
    ints = ref / step  # PyTorch's outputs in units of the datapath's integer result
    equal = torch.equal(ints.round().long(), acc)
    off = float((ints - acc).abs().max())
    return {
        "layer": layer,
        "outputs": int(ref.numel()),
        "max_abs_diff": off,
        "equal": equal,
        "summary": f"layer {layer}: {ref.numel()} outputs of model.xnor_acc (integers) "
        f"{'equal' if equal else 'DIFFER from'} PyTorch's convolution / (alpha * step) "
        f"(max |diff| {off:.3g})",
    }
