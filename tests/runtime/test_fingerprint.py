"""Fingerprints: exact on single-element changes, bits not values, bounded chunks."""

import pytest

torch = pytest.importorskip("torch")

from freezelint.runtime.fingerprint import BLOCK, Fingerprinter  # noqa: E402

DTYPES = [
    torch.float32, torch.float16, torch.bfloat16, torch.float64,
    torch.int8, torch.uint8, torch.int32, torch.int64, torch.bool, torch.complex64,
]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_every_single_bit_flip_at_block_edges_changes_the_fingerprint(dtype):
    fp = Fingerprinter(seed=3)
    t = (torch.randn(2 * BLOCK + 5) * 7).to(dtype)
    before = fp.fingerprint(t)
    es = t.element_size()
    for pos in (0, 1, BLOCK - 1, BLOCK, 2 * BLOCK + 4):
        for byte in range(es):
            for bit in (0, 7):
                u = t.clone()
                u.view(torch.uint8)[pos * es + byte] ^= 1 << bit
                assert fp.fingerprint(u) != before, (pos, byte, bit)
    assert fp.fingerprint(t.clone()) == before


def test_bits_not_values_negative_zero_and_nan():
    fp = Fingerprinter(seed=1)
    z = torch.zeros(10)
    nz = z.clone()
    nz[3] = -0.0
    assert torch.equal(z, nz)  # equal as values ...
    assert fp.fingerprint(z) != fp.fingerprint(nz)  # ... different bits
    n = torch.full((7,), float("nan"))
    assert not torch.equal(n, n.clone())  # NaN != NaN as values ...
    assert fp.fingerprint(n) == fp.fingerprint(n.clone())  # ... same bits


def test_swapping_two_elements_or_two_blocks_changes_the_fingerprint():
    fp = Fingerprinter(seed=5)
    t = torch.randn(3 * BLOCK)
    before = fp.fingerprint(t)
    u = t.clone()
    u[[10, 20]] = u[[20, 10]]
    assert fp.fingerprint(u) != before
    v = torch.cat([t[BLOCK : 2 * BLOCK], t[:BLOCK], t[2 * BLOCK :]])
    assert fp.fingerprint(v) != before


def test_non_contiguous_tensors_fingerprint_like_their_contiguous_copy():
    fp = Fingerprinter(seed=2, chunk_bytes=1)  # smallest chunks: slabs cross block boundaries
    x = torch.randn(300, 700).t()
    assert not x.is_contiguous()
    assert fp.fingerprint(x) == fp.fingerprint(x.contiguous())
    cl = torch.randn(4, 3, 5, 5).to(memory_format=torch.channels_last)
    assert fp.fingerprint(cl) == fp.fingerprint(cl.contiguous())


def test_chunk_size_does_not_change_the_result():
    t = torch.randn(5 * BLOCK + 123)
    small = Fingerprinter(seed=9, chunk_bytes=1)
    large = Fingerprinter(seed=9, chunk_bytes=1 << 26)
    assert small.chunk_rows_f64 == BLOCK
    assert small.fingerprint(t) == large.fingerprint(t)


def test_shape_dtype_empty_and_scalar():
    fp = Fingerprinter(seed=4)
    assert fp.fingerprint(torch.zeros(4)) != fp.fingerprint(torch.zeros(2, 2))
    assert fp.fingerprint(torch.zeros(4)) != fp.fingerprint(torch.zeros(4, dtype=torch.int32))
    assert fp.fingerprint(torch.empty(0)) == ("torch.float32", (0,), 0, 0)
    assert fp.fingerprint(torch.tensor(2.0)) != fp.fingerprint(torch.tensor(3.0))


def test_fingerprinting_leaves_the_global_rng_alone():
    state = torch.get_rng_state()
    Fingerprinter().fingerprint_many([torch.ones(10), torch.ones(3, dtype=torch.float16)])
    assert torch.equal(torch.get_rng_state(), state)


def test_random_draws_differ_but_agree_with_themselves():
    t = torch.randn(1000)
    a, b = Fingerprinter(), Fingerprinter()
    assert a.fingerprint(t) == a.fingerprint(t.clone())
    assert a.fingerprint(t) != b.fingerprint(t)  # independent weights per audit
