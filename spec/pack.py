"""SPEC section 5: bit packing of activation bitstreams into SRAM words."""

from __future__ import annotations

from dataclasses import dataclass

from ._base import SpecBase, check_int

#: Word widths the SRAM and the packer support.
WORD_BITS_CHOICES = (8, 16, 32, 64)


@dataclass(frozen=True)
class PackingSpec(SpecBase):
    """Bitstream to word packing, LSB first, and the SRAM that holds the words.

    Element ``k`` of a bitstream is bit ``k % word_bits`` of word ``k // word_bits``; a
    partial last word is zero-padded. A tensor's bitstream is in NHWC order (channel
    fastest): element ``(n, h, w, c)`` is ``k = ((n*H + h)*W + w)*C + c``.

    Parameters
    ----------
    word_bits : int
        Bits per word, one of 8, 16, 32, 64.
    depth : int
        SRAM words, 1..2**24; writing past it sets a sticky overflow flag.

    Raises
    ------
    ValueError
        ``word_bits`` not in {8, 16, 32, 64} or ``depth`` out of range.
    """

    word_bits: int = 32
    depth: int = 1024

    def __post_init__(self) -> None:
        check_int("word_bits", self.word_bits, 1)
        if self.word_bits not in WORD_BITS_CHOICES:
            raise ValueError(
                f"word_bits must be one of {', '.join(map(str, WORD_BITS_CHOICES))}, "
                f"not {self.word_bits}"
            )
        check_int("depth", self.depth, 1, 1 << 24)

    @property
    def capacity_bits(self) -> int:
        """Bits the SRAM holds, ``word_bits * depth``."""
        return self.word_bits * self.depth

    def beats_per_word(self, lanes: int) -> int:
        """Beats of ``lanes`` elements in one word, ``word_bits // lanes``: the rule that a
        beat never straddles two words, so ``lanes`` is a power of two no larger than
        ``word_bits`` (the SRAM, the board top and the estimator all apply it).

        Raises
        ------
        TypeError, ValueError
            ``lanes`` not an integer, or not such a power of two.
        """
        if isinstance(lanes, bool) or not isinstance(lanes, int):
            raise TypeError(f"lanes must be an integer, not {lanes!r}")
        if lanes < 1 or lanes & (lanes - 1) or lanes > self.word_bits:
            raise ValueError(
                f"lanes must be a power of two no larger than word_bits={self.word_bits}, "
                f"not {lanes}"
            )
        return self.word_bits // lanes

    def words_for(self, n_bits: int) -> int:
        """Words needed for ``n_bits`` bits, ``ceil(n_bits / word_bits)``."""
        check_int("n_bits", n_bits, 0)
        return -(-n_bits // self.word_bits)
