"""model.pack: LSB-first word packing and the NHWC bitstream order (SPEC section 5).

References are plain Python integers and explicit loops over (n, h, w, c), so a
mistake in numpy's bit order or a transpose in the model cannot hide behind the same
mistake here.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model.pack import pack_bits, stream_to_tensor, tensor_to_stream, unpack_bits

WORD_BITS = (8, 16, 32, 64)
PROPERTY = settings(max_examples=60, deadline=None)


def reference_pack(bits: list[int], word_bits: int) -> list[int]:
    """Word i is the sum of bit k << (k - i*word_bits) over the bits k it holds."""
    words = [0] * -(-len(bits) // word_bits)
    for k, b in enumerate(bits):
        words[k // word_bits] += b << (k % word_bits)
    return words


@st.composite
def bitstreams(draw) -> tuple[int, list[int]]:
    """A word width and a bitstream of any length: empty, partial words, all 0, all 1."""
    word_bits = draw(st.sampled_from(WORD_BITS))
    n = draw(st.integers(0, 4 * word_bits + 3))
    kind = draw(st.sampled_from(["random", "zeros", "ones"]))
    if kind == "zeros":
        return word_bits, [0] * n
    if kind == "ones":
        return word_bits, [1] * n
    return word_bits, draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))


# --- pack / unpack --------------------------------------------------------------------


@PROPERTY
@given(bitstreams())
def test_pack_matches_integer_reference(case):
    word_bits, bits = case
    words = pack_bits(np.array(bits, dtype=np.uint8), word_bits)
    assert [int(w) for w in words] == reference_pack(bits, word_bits)


@PROPERTY
@given(bitstreams().filter(lambda case: len(case[1]) > 0))
def test_pack_takes_python_lists(case):
    word_bits, bits = case
    assert [int(w) for w in pack_bits(bits, word_bits)] == reference_pack(bits, word_bits)


@PROPERTY
@given(bitstreams())
def test_unpack_inverts_pack(case):
    word_bits, bits = case
    words = pack_bits(np.array(bits, dtype=np.uint8), word_bits)
    assert unpack_bits(words, len(bits), word_bits).tolist() == bits


@PROPERTY
@given(
    st.sampled_from(WORD_BITS).flatmap(
        lambda wb: st.tuples(st.just(wb), st.lists(st.integers(0, 2**wb - 1), max_size=5))
    ),
    st.data(),
)
def test_unpack_reads_bit_k_of_word_k_over_word_bits(case, data):
    word_bits, words = case
    n = data.draw(st.integers(0, len(words) * word_bits))
    expected = [(words[k // word_bits] >> (k % word_bits)) & 1 for k in range(n)]
    array = np.array(words, dtype=f"uint{word_bits}")
    assert unpack_bits(array, n, word_bits).tolist() == expected


@pytest.mark.parametrize("word_bits", WORD_BITS)
def test_packed_words_are_unsigned_word_bits_wide(word_bits):
    words = pack_bits([1] * (word_bits + 1), word_bits)
    assert words.dtype == np.dtype(f"uint{word_bits}")
    assert words.tolist() == [2**word_bits - 1, 1]


@pytest.mark.parametrize("word_bits", WORD_BITS)
def test_partial_last_word_is_zero_padded(word_bits):
    n = 2 * word_bits + 3
    words = pack_bits([1] * n, word_bits)
    assert len(words) == 3
    assert int(words[-1]) == 0b111  # bits 3.. of the last word are padding: zero


@pytest.mark.parametrize("word_bits", WORD_BITS)
def test_empty_stream_packs_to_no_words(word_bits):
    assert pack_bits(np.zeros(0, dtype=np.uint8), word_bits).size == 0


def test_empty_list_packs_to_no_words():
    assert pack_bits([], 8).size == 0


@pytest.mark.parametrize("word_bits", WORD_BITS)
def test_unpack_of_no_words_is_empty(word_bits):
    assert unpack_bits(np.zeros(0, dtype=f"uint{word_bits}"), 0, word_bits).size == 0


def test_unpack_ignores_bits_past_n():
    assert unpack_bits([0xFF], 3, 8).tolist() == [1, 1, 1]


def test_unpack_takes_a_64_bit_python_int():
    assert unpack_bits([2**64 - 1], 64, 64).tolist() == [1] * 64


def test_unpack_takes_mixed_64_bit_python_ints():
    assert unpack_bits([2**64 - 1, 1], 65, 64).tolist() == [1] * 65


def test_unpack_takes_uint64_words():
    words = np.array([2**63 + 1], dtype=np.uint64)
    assert unpack_bits(words, 64, 64).tolist() == [1] + [0] * 62 + [1]


def test_unpack_returns_uint8():
    assert unpack_bits([5], 8, 8).dtype == np.dtype(np.uint8)


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        pytest.param(lambda: pack_bits([0, 2, 1], 8), ValueError,
                     r"^bits must hold values in 0\.\.1, found 0\.\.2$", id="bit-2"),
        pytest.param(lambda: pack_bits([0, -1], 8), ValueError,
                     r"^bits must hold values in 0\.\.1, found -1\.\.0$", id="bit-negative"),
        pytest.param(lambda: pack_bits([[0, 1], [1, 0]], 8), ValueError,
                     r"^bits must be a 1-D bitstream, not shape \(2, 2\)$", id="2-d-bits"),
        pytest.param(lambda: pack_bits([0.0, 1.0], 8), TypeError,
                     r"^bits must be an integer array, not dtype float64$", id="float-bits"),
        pytest.param(lambda: pack_bits([1], 12), ValueError,
                     r"^word_bits must be one of 8, 16, 32, 64, not 12$", id="pack-word-bits-12"),
        pytest.param(lambda: unpack_bits([1], 8, 12), ValueError,
                     r"^word_bits must be one of 8, 16, 32, 64, not 12$", id="unpack-word-bits-12"),
        pytest.param(lambda: unpack_bits([1, 2], 17, 8), ValueError,
                     r"^n must be in 0\.\.16, not 17$", id="n-too-large"),
        pytest.param(lambda: unpack_bits([1], -1, 8), ValueError,
                     r"^n must be in 0\.\.8, not -1$", id="n-negative"),
        pytest.param(lambda: unpack_bits([256], 8, 8), ValueError,
                     r"^words must hold values in 0\.\.255, found 256\.\.256$", id="word-too-wide"),
        pytest.param(lambda: unpack_bits(np.array([256], dtype=np.uint16), 8, 8), ValueError,
                     r"^words must hold values in 0\.\.255", id="uint16-word-too-wide"),
        pytest.param(lambda: unpack_bits([-1], 8, 8), ValueError,
                     r"^words must hold values in 0\.\.255, found -1\.\.-1$", id="word-negative"),
        pytest.param(lambda: unpack_bits([[1], [2]], 8, 8), ValueError,
                     r"^words must be 1-D, not shape \(2, 1\)$", id="2-d-words"),
    ],
)  # fmt: skip
def test_bad_input_is_refused(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


# --- NHWC stream order ----------------------------------------------------------------

SHAPES = [(1, 1, 1, 1), (2, 3, 4, 5), (3, 1, 2, 7), (1, 4, 4, 1)]


def distinct_values(shape: tuple[int, ...]) -> np.ndarray:
    """Every element different, so a misplaced element cannot go unnoticed."""
    rng = np.random.default_rng(sum(shape))
    return rng.permutation(int(np.prod(shape))).reshape(shape)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_nhwc_tensor_streams_channel_fastest(shape):
    x = distinct_values(shape)
    stream = tensor_to_stream(x)
    n_, h_, w_, c_ = shape
    assert stream.shape == (x.size,)
    for n in range(n_):
        for h in range(h_):
            for w in range(w_):
                for c in range(c_):
                    assert stream[((n * h_ + h) * w_ + w) * c_ + c] == x[n, h, w, c]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_nchw_tensor_streams_in_nhwc_order(shape):
    n_, h_, w_, c_ = shape
    x = distinct_values((n_, c_, h_, w_))  # torch's layout
    stream = tensor_to_stream(x, layout="NCHW")
    for n in range(n_):
        for h in range(h_):
            for w in range(w_):
                for c in range(c_):
                    assert stream[((n * h_ + h) * w_ + w) * c_ + c] == x[n, c, h, w]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_stream_to_nhwc_tensor_places_element_k(shape):
    stream = distinct_values((int(np.prod(shape)),))
    x = stream_to_tensor(stream, shape)
    n_, h_, w_, c_ = shape
    assert x.shape == shape
    for n in range(n_):
        for h in range(h_):
            for w in range(w_):
                for c in range(c_):
                    assert x[n, h, w, c] == stream[((n * h_ + h) * w_ + w) * c_ + c]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_nchw_round_trip(shape):
    x = distinct_values(shape)  # read as (N, C, H, W)
    back = stream_to_tensor(tensor_to_stream(x, layout="NCHW"), x.shape, layout="NCHW")
    assert back.shape == x.shape
    assert np.array_equal(back, x)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_nchw_to_nhwc_through_the_stream_is_a_transpose(shape):
    x_nchw = distinct_values(shape)
    n, c, h, w = shape
    x_nhwc = stream_to_tensor(tensor_to_stream(x_nchw, layout="NCHW"), (n, h, w, c))
    assert np.array_equal(x_nhwc, np.transpose(x_nchw, (0, 2, 3, 1)))


@pytest.mark.parametrize(
    ("call", "match"),
    [
        pytest.param(lambda: tensor_to_stream(np.zeros((2, 3, 4))),
                     r"^x must be a 4-D tensor, not shape \(2, 3, 4\)$", id="3-d-tensor"),
        pytest.param(lambda: tensor_to_stream(np.zeros((1, 1, 1, 1)), layout="NWHC"),
                     r"^layout must be one of NHWC, NCHW, not 'NWHC'$", id="bad-layout"),
        pytest.param(lambda: stream_to_tensor(np.zeros(24), (1, 2, 3, 5)),
                     r"^shape must be 4-D with 24 elements, not \(1, 2, 3, 5\)$",
                     id="wrong-size"),
        pytest.param(lambda: stream_to_tensor(np.zeros(24), (2, 3, 4)),
                     r"^shape must be 4-D with 24 elements, not \(2, 3, 4\)$", id="3-d-shape"),
        pytest.param(lambda: stream_to_tensor(np.zeros(24), (1, 2, 3, 4), layout="nhwc"),
                     r"^layout must be one of NHWC, NCHW, not 'nhwc'$", id="lowercase-layout"),
    ],
)  # fmt: skip
def test_bad_tensor_or_layout_is_refused(call, match):
    with pytest.raises(ValueError, match=match):
        call()
