"""An integer network (:class:`spec.IntNetSpec`) in memory and on disk.

:class:`IntNetwork` holds one trained network's numbers: every convolution's weight bits
(filter order of :class:`spec.WeightEncoding`), every requantization's per-channel
integers, the stem's pad code and bias. :meth:`IntNetwork.save` writes the ``.npz`` file
of ``docs/formats.md`` ("Integer network") atomically; :func:`load` reads one back and
refuses a file that is not one, or whose numbers break the format's rules. numpy only.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import spec
from fileio import npz_bytes, write_atomic
from spec import EngineInfo, IntNetSpec, PackingSpec
from spec.engine import EngineSpec

from .pack import pack_bits, unpack_bits

__all__ = ["FORMAT", "VERSION", "IntNetwork", "Requant", "load"]

#: The file's ``format`` tag and version.
FORMAT, VERSION = "sbq-intnet", 1
#: Weight bits are packed into words of this many bits, each filter starting a new word.
WORD_BITS = 32


@dataclass(frozen=True)
class Requant:
    """``floor((x * mult + add) / 2**shift)``, per channel (``mult``/``add`` arrays) or
    per layer (length 1), clamped to ``0..2**bits - 1`` where it makes codes."""

    mult: np.ndarray
    add: np.ndarray
    shift: int

    def apply(self, x: np.ndarray, hi: int | None = None) -> np.ndarray:
        """The rule on ``x`` (``int64``, channels last), clamped to ``0..hi`` if ``hi``."""
        y = (x * self.mult + self.add) >> self.shift
        return np.clip(y, 0, hi) if hi is not None else y


@dataclass
class IntNetwork:
    """One integer network.

    Attributes
    ----------
    spec : IntNetSpec
        Shape and rules.
    bits : dict[str, numpy.ndarray]
        Per convolution (``spec.convs()`` names), ``(cout, fan_in)`` ``uint8`` weight bits
        in filter order (1 = +1).
    requant : dict[str, Requant]
        ``stem.in``; ``blocks.K.conv1.in``, ``blocks.K.conv2.in``, ``blocks.K.add``;
        ``head.in``; ``logits``.
    zero_code : int
        The stem's pad code.
    stem_bias : numpy.ndarray
        ``int64`` per stem output channel, added to its sums.
    meta : dict
        Provenance and scales (informational: not part of the arithmetic).
    """

    spec: IntNetSpec
    bits: dict[str, np.ndarray]
    requant: dict[str, Requant]
    zero_code: int
    stem_bias: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    def check(self) -> dict[str, int]:
        """Check every array against the spec and return the worst cases
        (:func:`bounds`).

        Raises
        ------
        ValueError
            A missing or wrong-shaped array, a multiplier wider than ``mult_bits``, a
            worst case beyond ``stream_bits`` or ``logit_bits``.
        """
        s = self.spec
        for conv in s.convs():
            b = self.bits.get(conv.name)
            if b is None or b.shape != (conv.cout, conv.fan_in) or b.max(initial=0) > 1:
                got = None if b is None else b.shape
                raise ValueError(
                    f"{conv.name} weights must be ({conv.cout}, {conv.fan_in}) bits, not {got}"
                )
        for name, channels in _requant_channels(s).items():
            r = self.requant.get(name)
            if r is None:
                raise ValueError(f"requantization {name} is missing")
            if r.mult.shape != (channels,) or r.add.shape != (channels,):
                raise ValueError(
                    f"{name} must have {channels} multipliers and offsets, not "
                    f"{r.mult.shape} and {r.add.shape}"
                )
            if not 0 <= r.shift < 63:
                raise ValueError(f"{name} shift must be in 0..62, not {r.shift}")
            limit = 1 << (s.mult_bits - 1)
            if np.abs(r.mult).max() >= limit:
                raise ValueError(f"{name} multipliers must be below {limit} in magnitude")
            if np.abs(r.add).max() >= 1 << (s.mult_bits + s.stream_bits - 1):
                raise ValueError(f"{name} offsets must fit {s.mult_bits + s.stream_bits} bits")
        if self.stem_bias.shape != (s.stage_channels[0],):
            raise ValueError(f"stem bias must have {s.stage_channels[0]} entries")
        if not 0 <= self.zero_code <= 255:
            raise ValueError(f"zero_code must be in 0..255, not {self.zero_code}")
        if s.stream_bits + s.mult_bits > 52:
            raise ValueError(
                f"stream_bits + mult_bits must be at most 52 (products stay exact in a "
                f"float64), not {s.stream_bits + s.mult_bits}"
            )
        worst = bounds(self)
        for key, bits in (("stream", s.stream_bits), ("logits", s.logit_bits)):
            if worst[key] >= 1 << (bits - 1):
                raise ValueError(
                    f"the {key} can reach {worst[key]}, beyond {bits}-bit signed: this network "
                    f"needs a wider {key}_bits"
                )
        return worst

    def save(self, path: Path) -> None:
        """Write the network to ``path`` (``.npz``), atomically, after :meth:`check`."""
        worst = self.check()
        packing = PackingSpec(word_bits=WORD_BITS)
        arrays: dict[str, np.ndarray] = {}
        for name, b in self.bits.items():
            arrays[f"{name}.words"] = np.stack([pack_bits(row, packing.word_bits) for row in b])
        for name, r in self.requant.items():
            arrays[f"{name}.mult"] = r.mult.astype(np.int64)
            arrays[f"{name}.add"] = r.add.astype(np.int64)
            arrays[f"{name}.shift"] = np.array(r.shift, dtype=np.int64)
        arrays["stem.zero_code"] = np.array(self.zero_code, dtype=np.int64)
        arrays["stem.bias"] = self.stem_bias.astype(np.int64)
        meta = {
            **self.meta,
            "format": FORMAT,
            "version": VERSION,
            "spec": self.spec.as_dict(),
            "spec_fingerprint": self.spec.fingerprint(),
            "contract": spec.fingerprint(),
            "word_bits": WORD_BITS,
            "bounds": worst,
        }
        arrays["meta"] = np.array(json.dumps(meta, sort_keys=True))
        write_atomic(Path(path), npz_bytes(arrays))

    def fingerprint(self) -> str:
        """16 hex digits of SHA-256 over what the arithmetic depends on: the spec's
        fingerprint, every weight bit, every rule, the zero point and the stem bias (not
        ``meta``). A device built with this network reports it (IDENTIFY's ``network``),
        so the host can refuse to compare a file with another network's answers."""
        h = hashlib.sha256(self.spec.fingerprint().encode())
        for conv in self.spec.convs():
            h.update(np.packbits(self.bits[conv.name].astype(np.uint8)).tobytes())
        for name in sorted(self.requant):
            r = self.requant[name]
            h.update(name.encode())
            h.update(np.asarray(r.mult, dtype="<i8").tobytes())
            h.update(np.asarray(r.add, dtype="<i8").tobytes())
            h.update(int(r.shift).to_bytes(1, "little"))
        h.update(int(self.zero_code).to_bytes(1, "little"))
        h.update(np.asarray(self.stem_bias, dtype="<i8").tobytes())
        return h.hexdigest()[:16]

    def engine_info(self, engine: EngineSpec | None = None) -> EngineInfo:
        """What a device running this network on ``engine`` (16 lanes if omitted)
        reports and takes over the host link."""
        s, engine = self.spec, EngineSpec() if engine is None else engine
        return EngineInfo(
            network=int(self.fingerprint(), 16),
            image_bytes=s.in_channels * s.image_size**2,
            classes=s.num_classes,
            cycles=engine.cycles(s),
            lanes=engine.lanes,
            layers=tuple(engine.layers(s).values()),
        )

    def weight_bytes(self) -> int:
        """Bytes of packed weight bits."""
        return sum(-(-b.shape[1] // WORD_BITS) * 4 * b.shape[0] for b in self.bits.values())

    def integer_bytes(self) -> int:
        """Bytes of the per-channel integers packed at the widths they need: each
        rule's multipliers at ``mult_bits``, its offsets at the signed width of its
        largest, its shift in a byte; the stem bias at the signed width of its largest."""

        def width(values: np.ndarray) -> int:
            return int(np.abs(values).max(initial=0)).bit_length() + 1

        bits = sum(
            len(r.mult) * (self.spec.mult_bits + width(r.add)) + 8 for r in self.requant.values()
        )
        bits += len(self.stem_bias) * width(self.stem_bias)
        return -(-bits // 8)


def _requant_channels(s: IntNetSpec) -> dict[str, int]:
    """Every requantization of the format and its channel count."""
    out = {"stem.in": s.in_channels}
    for conv in s.convs()[1:-1]:
        out[f"{conv.name}.in"] = conv.cin
        if conv.name.endswith("conv2"):
            out[f"{conv.name.removesuffix('.conv2')}.add"] = 1
    out["head.in"] = s.stage_channels[2]
    out["logits"] = s.num_classes
    return out


def _term(bound: int, r: Requant) -> int:
    """Worst ``|floor((x * mult + add) / 2**shift)|`` for ``|x| <= bound``."""
    top = int(np.max(np.abs(r.mult)) * bound + np.max(np.abs(r.add)))
    return (top >> r.shift) + 1


def bounds(net: IntNetwork) -> dict[str, int]:
    """The worst case of every intermediate, by interval arithmetic over the stored
    integers: ``NAME.acc`` (each convolution's sum), ``stream`` (the residual stream's
    largest magnitude over all stages, the stem's sum plus bias included), ``head.sum``
    (the head's sums over all positions) and ``logits``. Codes are ``0..2**bits - 1`` by
    their clamp."""
    s = net.spec
    out = {f"{c.name}.acc": c.acc_bound for c in s.convs()}
    x = out["stem.acc"] + int(np.abs(net.stem_bias).max(initial=0))
    stream = x
    for k, name in enumerate(s.block_names()):
        shortcut = 9 * x if s.is_pool_block(k) else x
        x = shortcut + _term(out[f"{name}.conv2.acc"], net.requant[f"{name}.add"])
        stream = max(stream, x)
    out["stream"] = stream
    out["head.sum"] = s.positions * out["head.acc"]
    out["logits"] = _term(out["head.sum"], net.requant["logits"])
    return out


def layer_words(values: np.ndarray, lanes: int) -> np.ndarray:
    """One image's layer (``side x side x channels``, as ``model.infer.run(...,
    trace=True)`` gives it) as the engine's buffer holds it and READ_LAYER sends it:
    words of ``lanes`` channels of one pixel, pixels in row-major order, the channels
    zero-padded to whole words; shape ``(words, lanes)``."""
    h, w, c = values.shape
    groups = -(-c // lanes)
    padded = np.zeros((h, w, groups * lanes), np.int64)
    padded[..., :c] = values
    return padded.reshape(h * w * groups, lanes)


def words_layer(words: np.ndarray, side: int, channels: int) -> np.ndarray:
    """The inverse of :func:`layer_words`: ``(words, lanes)`` to ``side x side x
    channels``, the padding channels dropped."""
    return words.reshape(side, side, -1)[..., :channels]


def load(path: Path) -> IntNetwork:
    """The integer network in ``path``.

    Raises
    ------
    ValueError
        ``path`` cannot be read, is not an integer network file of this version, or
        breaks the format (:meth:`IntNetwork.check`).
    """
    try:
        data = Path(path).read_bytes()
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        meta = json.loads(str(arrays.pop("meta")))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as e:
        raise ValueError(f"{path} is not an integer network file ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{path} is not an integer network file (no {FORMAT!r} tag)")
    if meta.get("version") != VERSION:
        raise ValueError(f"{path} is format version {meta.get('version')}, not {VERSION}")
    try:
        net_spec = IntNetSpec(**meta["spec"])
        if net_spec.fingerprint() != meta["spec_fingerprint"]:
            raise ValueError("its spec fingerprint does not match its spec")
        bits = {}
        for conv in net_spec.convs():
            words = arrays[f"{conv.name}.words"]
            bits[conv.name] = np.stack(
                [unpack_bits(row, conv.fan_in, meta["word_bits"]) for row in words]
            )
        requant = {
            name: Requant(
                arrays[f"{name}.mult"], arrays[f"{name}.add"], int(arrays[f"{name}.shift"])
            )
            for name in _requant_channels(net_spec)
        }
        net = IntNetwork(
            net_spec,
            bits,
            requant,
            int(arrays["stem.zero_code"]),
            arrays["stem.bias"],
            {k: v for k, v in meta.items() if k not in ("spec", "bounds")},
        )
        net.check()
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{path} is not a valid integer network ({e})") from None
    return net
