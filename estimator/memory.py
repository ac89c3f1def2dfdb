"""Training and inference memory of a WRN, layer by layer.

Saved activations follow exactly what :mod:`model.nn` keeps for backward (what
``python -m bench.memory`` counts with autograd's saved-tensor hooks):

======================  =============================================  =====================
layer                   ``fp32`` (plain PyTorch)                       ``stoch`` / ``det``
======================  =============================================  =====================
stem                    float image and batch-norm output (4 B each)   ``uint8`` image (1 B)
BN-ReLU-conv            input and ReLU output (4 B each)               sign + magnitude bits
                                                                       (2 bits)
head batch norm         input (4 B)                                    2 bits
every batch norm        mean and 1/std (4 B per channel each)          same (scale, 1/std)
loss                    log-softmax (4 B per class), labels (8 B),     same
                        one 4-byte scalar
======================  =============================================  =====================

Bits are packed 8 per byte per tensor (rounded up to whole bytes).

**Peak of a step.** A user sees the process peak, not the saved store
(:func:`step_peak_bytes`, compared with ``python -m bench.peak_memory`` in the tests). In
``fp32`` it comes at the start of backward: the whole saved store plus the gradient at the
last stage's activation. The bit-saving modes work in chunks of
:data:`spec.TRAIN_CHUNK_ELEMENTS` and fuse each residual block, so their peak is the saved
store plus two tensors of the widest layer (in the compute dtype: 4 bytes, or 2 under
bf16 autocast) plus the chunks' float32 scratch (:data:`SCRATCH_BYTES` per chunk
element). The average-pool
shortcut keeps nothing extra in any mode (in ``fp32`` PyTorch's pool keeps its input,
which is the block input the batch norm already keeps: one storage, counted once).
"""

from __future__ import annotations

from dataclasses import dataclass

from spec import SAVE_MODES, TRAIN_CHUNK_ELEMENTS

from .network import Layer, Network

__all__ = [
    "SAVE_MODES",
    "SCRATCH_BYTES",
    "LayerMemory",
    "inference_bytes",
    "saved_bytes",
    "step_peak_bytes",
    "training_memory",
]

#: Float32 temporaries alive at once per chunk element of a bit-saving layer (the
#: normalised chunk, its magnitude or probability, the comparison's operands, the packing
#: words, the convolution's chunk output): four float32 values.
SCRATCH_BYTES = 16

_F32 = 4


def _bits(n: int) -> int:
    return -(-n // 8)


def saved_bytes(layer: Layer, batch: int, save: str) -> int:
    """Bytes ``layer``'s backward keeps for a batch of ``batch`` images in mode ``save``."""
    if save not in SAVE_MODES:
        raise ValueError(f"save must be one of {', '.join(SAVE_MODES)}, not {save!r}")
    n_in = batch * layer.in_elements
    stats = 2 * _F32 * layer.bn_channels
    if layer.kind == "loss":
        return batch * layer.cin * _F32 + batch * 8 + _F32
    if save == "fp32":
        if layer.kind in ("stem", "bn_relu_conv"):
            return 2 * _F32 * n_in + stats
        return _F32 * n_in + stats  # bn
    if layer.kind == "stem":
        return n_in + stats
    return 2 * _bits(n_in) + stats


def step_peak_bytes(net: Network, batch: int, save: str, *, bf16: bool = False) -> int:
    """Predicted rise of the process peak in one training step (after a warm-up) of
    ``net`` at ``batch`` in mode ``save``; ``bf16``: under bf16 autocast (bit-saving
    modes only: plain PyTorch's autocast keeps a mix of dtypes this model does not
    follow)."""
    saved = sum(saved_bytes(layer, batch, save) for layer in net.layers)
    if save == "fp32":
        if bf16:
            raise ValueError("the peak under bf16 is modelled for the bit-saving modes only")
        head = next(layer for layer in net.layers if layer.name == "head")
        return saved + _F32 * batch * head.in_elements
    widest = max(layer.in_elements for layer in net.layers if layer.kernel)
    return (
        saved + 2 * (2 if bf16 else _F32) * batch * widest + SCRATCH_BYTES * (TRAIN_CHUNK_ELEMENTS)
    )


@dataclass(frozen=True)
class LayerMemory:
    """Training memory of one layer, in bytes, for one batch."""

    name: str
    weights: int
    gradients: int
    optimizer: int
    buffers: int
    saved: dict[str, int]


def training_memory(net: Network, batch: int) -> list[LayerMemory]:
    """Per layer: fp32 latent weights (binary weights train fp32 latent weights too),
    their gradients, SGD momentum, batch-norm running statistics and saved activations
    in every mode."""
    return [
        LayerMemory(
            layer.name,
            weights=_F32 * layer.params,
            gradients=_F32 * layer.params,
            optimizer=_F32 * layer.params,
            buffers=2 * _F32 * layer.bn_channels,
            saved={mode: saved_bytes(layer, batch, mode) for mode in SAVE_MODES},
        )
        for layer in net.layers
    ]


def inference_bytes(net: Network, weight_bits: int, act_bits: int) -> dict[str, int]:
    """Inference memory for one image: ``weights`` (``weight_bits`` each, plus a 4-byte
    scale per binary layer), and ``activations``, the largest input-plus-output of any
    layer at ``act_bits`` per element (two buffers, ping-pong)."""
    convs = [layer for layer in net.layers if layer.kernel]
    weights = sum(_bits(layer.conv_params * weight_bits) for layer in convs)
    if weight_bits == 1:
        weights += _F32 * len(convs)
    acts = max(_bits((layer.in_elements + layer.out_elements) * act_bits) for layer in convs)
    return {"weights": weights, "activations": acts, "total": weights + acts}
