"""The read paths against their oracles: the sparse top-k read against the dense one computed the
obvious way (values, gradients, and what the backward pass keeps), and each reader against its
formula written out slot by slot."""

from __future__ import annotations

import math

import engrammar
import pytest
import torch
from engrammar.testing import assert_matches_oracle
from engrammar_episodic import Table
from engrammar_episodic.ops import sparse_read, sparse_read_naive

F64 = torch.float64


def table(batch: int = 3, slots: int = 7, key: int = 4, value: int = 5, written: int = 5, seed: int = 0) -> Table:
    """A table whose first ``written`` slots hold episodes (the rest zeros, as a fresh table)."""
    generator = torch.Generator().manual_seed(seed)
    occupied = torch.zeros(batch, slots, dtype=torch.bool)
    occupied[:, :written] = True
    keys = torch.randn(batch, slots, key, generator=generator, dtype=F64) * occupied.unsqueeze(-1)
    values = torch.randn(batch, slots, value, generator=generator, dtype=F64) * occupied.unsqueeze(-1)
    return Table(keys.requires_grad_(True), values.requires_grad_(True), occupied)


def queries(batch: int = 3, heads: int = 2, key: int = 4, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    q = torch.randn(batch, heads, key, generator=generator, dtype=F64).requires_grad_(True)
    strength = (1 + 3 * torch.rand(batch, heads, generator=generator, dtype=F64)).requires_grad_(True)
    return q, strength


@pytest.mark.parametrize(("top_k", "written"), [(2, 5), (3, 7), (4, 2), (7, 7)])
def test_sparse_read_matches_the_dense_oracle_in_values_and_gradients(top_k: int, written: int) -> None:
    t = table(written=written)
    q, strength = queries()
    fast, fast_slots = sparse_read(t, q, strength, top_k)
    naive, naive_slots = sparse_read_naive(t, q, strength, top_k)
    assert torch.equal(fast_slots, naive_slots)
    assert_matches_oracle(fast, naive, [t.keys, t.values, q, strength], nonzero_gradients=True)


def test_the_sparse_read_reads_only_written_slots_and_reads_nothing_from_an_empty_table() -> None:
    t = table(written=2)
    q, strength = queries()
    _, slots = sparse_read(t, q, strength, 4)
    weights_outside = sparse_read(
        Table(t.keys, t.values * 0 + 100 * ~t.occupied.unsqueeze(-1), t.occupied), q, strength, 4
    )[0]
    reads_written_only = sparse_read(Table(t.keys, t.values * 0, t.occupied), q, strength, 4)[0]
    # values planted in free slots do not reach the read: their weight is exactly 0
    assert torch.allclose(weights_outside, reads_written_only) and slots.shape == (3, 2, 4)
    empty = Table(torch.zeros_like(t.keys), torch.zeros_like(t.values), torch.zeros_like(t.occupied))
    reads, _ = sparse_read(empty, q, strength, 3)
    assert torch.equal(reads, torch.zeros_like(reads))


def saved_bytes(run) -> int:  # type: ignore[no-untyped-def]
    """Bytes of the distinct storages autograd keeps for the backward pass of ``run()``."""
    storages: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        run()
    return sum(storages.values())


def test_the_sparse_backward_keeps_the_rows_read_not_the_table() -> None:
    t = table(batch=2, slots=4096, key=16, value=16, written=4096)
    q, strength = queries(batch=2, heads=1, key=16)
    table_bytes = t.keys.nbytes + t.values.nbytes
    sparse = saved_bytes(lambda: sparse_read(t, q, strength, 8))
    dense = saved_bytes(lambda: sparse_read_naive(t, q, strength, 8))
    assert dense >= table_bytes  # the oracle keeps the whole table (and every score)
    assert sparse < table_bytes / 100  # the fast path: 8 rows per query, their indices and weights


def reader_and_table(use: str, **fields: object) -> tuple[torch.nn.Module, Table, torch.Tensor]:
    memory = engrammar.build(
        "episodic", in_features=3, num_slots=7, key_size=4, value_size=5, readers=[{"use": use, **fields}]
    )
    reader = memory.readers[0].double()
    x = torch.randn(3, 3, generator=torch.Generator().manual_seed(2), dtype=F64).requires_grad_(True)
    return reader, table(written=5), x


def test_the_content_reader_is_sharpened_cosine_attention_over_written_slots() -> None:
    reader, t, x = reader_and_table("content_reader", num_heads=2)
    reading = reader.read(x, t, {})
    q = reader.query(x).view(3, 2, 4)
    beta = 1 + torch.nn.functional.softplus(reader.strength(x))
    gamma = 1 + torch.nn.functional.softplus(reader.sharpening(x))
    expected = torch.zeros(3, 2, 5, dtype=F64)
    for b in range(3):
        for h in range(2):
            scores = [
                beta[b, h] * torch.nn.functional.cosine_similarity(q[b, h], t.keys[b, n], dim=0, eps=0)
                for n in range(5)
            ]
            w = torch.softmax(torch.stack(scores), 0)
            w = torch.cat([w, torch.zeros(2, dtype=F64)])  # the two free slots
            w = (w + 1e-12) ** gamma[b, h] / ((w + 1e-12) ** gamma[b, h]).sum()
            expected[b, h] = w @ t.values[b]
    assert torch.allclose(reading.output, expected.flatten(-2), atol=1e-6)
    assert reading.slots.shape == (3, 2) and bool((reading.slots < 5).all())


def test_the_attention_reader_is_scaled_dot_product_attention_over_written_slots() -> None:
    reader, t, x = reader_and_table("attention_reader", num_heads=2)
    reading = reader.read(x, t, {})
    q = reader.query(x).view(3, 2, 4)
    expected = torch.softmax(q @ t.keys[:, :5].transpose(1, 2) / math.sqrt(4), -1) @ t.values[:, :5]
    assert torch.allclose(reading.output, expected.flatten(-2))


def test_a_sparse_reader_that_keeps_every_slot_is_the_dense_content_reader_without_sharpening() -> None:
    sparse, t, x = reader_and_table("sparse_reader", top_k=7, num_heads=2)
    dense, _, _ = reader_and_table("content_reader", num_heads=2, sharpening=False)
    dense.load_state_dict(sparse.state_dict())
    assert_matches_oracle(sparse.read(x, t, {}).output, dense.read(x, t, {}).output, [t.keys, t.values, x])


def test_the_sparse_read_passes_a_finite_difference_gradient_check() -> None:
    t = table(batch=2, slots=6, key=3, value=2, written=4)
    q, strength = queries(batch=2, heads=2, key=3)

    def run(keys: torch.Tensor, values: torch.Tensor, q: torch.Tensor, strength: torch.Tensor) -> torch.Tensor:
        return sparse_read(Table(keys, values, t.occupied), q, strength, 3)[0]

    assert torch.autograd.gradcheck(run, (t.keys, t.values, q, strength), eps=1e-6, atol=1e-6)
