"""The write policies worked through by hand, the table helpers, the memory's order of reads and
writes, and the errors a wrong head configuration gets."""

from __future__ import annotations

import engrammar
import pytest
import torch
from engrammar.spec import SpecError
from engrammar_episodic import Table, write_slot

TABLE = {"in_features": 3, "num_slots": 3, "key_size": 2, "value_size": 2}


def memory(writer: dict[str, object], reader: dict[str, object] | None = None) -> engrammar.Component:
    torch.manual_seed(0)
    return engrammar.build("episodic", **TABLE, readers=[reader or {"use": "content_reader"}], writers=[writer])


def written_slots(mem: engrammar.Component, x: torch.Tensor) -> list[list[int]]:
    """The slot each step wrote (-1: none), per sample, found by comparing occupancy and keys."""
    state = mem.init_state(x.shape[0])
    slots = []
    for t in range(x.shape[1]):
        _, new = mem.step(x[:, t], state)
        changed = (new["keys"] != state["keys"]).any(-1) | (new["occupied"] != state["occupied"])
        slots.append([int(row.nonzero()[0]) if row.any() else -1 for row in changed])
        state = new
    return [list(column) for column in zip(*slots)]


def test_the_append_writer_is_a_ring_buffer() -> None:
    mem = memory({"use": "append_writer"})
    assert written_slots(mem, torch.randn(2, 7, 3)) == [[0, 1, 2, 0, 1, 2, 0]] * 2


def test_the_usage_writer_fills_free_slots_then_evicts_the_least_recently_used() -> None:
    mem = memory({"use": "usage_writer"}, {"use": "sparse_reader", "top_k": 2})
    x = torch.randn(1, 6, 3)
    state = mem.init_state(1)
    writes, reads = [], []
    for t in range(6):
        reading = mem.readers[0].read(x[:, t], Table(state["keys"], state["values"], state["occupied"]), {})
        _, new = mem.step(x[:, t], state)
        changed = (new["keys"] != state["keys"]).any(-1)[0]
        writes.append(int(changed.nonzero()[0]))
        reads.append(set(reading.slots[0].tolist()))
        state = new
    assert writes[:3] == [0, 1, 2]  # free slots first, in order
    for t in range(3, 6):  # then the slot neither read at this step nor used since longest
        last_used = {
            slot: max([s for s in range(t) if writes[s] == slot or slot in reads[s]], default=-1) for slot in range(3)
        }
        candidates = [slot for slot in range(3) if slot not in reads[t]]
        expected = min(candidates, key=lambda slot: (last_used[slot], slot))
        assert writes[t] == expected, (t, writes, reads)


def test_the_surprise_writer_writes_novel_inputs_only() -> None:
    mem = memory({"use": "surprise_writer", "threshold": 0.9})
    a, b = torch.tensor([[1.0, 0.0, 0.0]]), torch.tensor([[0.0, 1.0, 0.0]])
    key = mem.writers[0].key
    with torch.no_grad():  # keys equal to the input's first two coordinates: a and b are orthogonal
        key.weight.copy_(torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))
        key.bias.zero_()
    x = torch.stack([a, a, b, a, b, -a], dim=1)
    assert written_slots(mem, x) == [[0, -1, 1, -1, -1, 2]]  # a repeated, b repeated: not stored again


def test_a_learned_threshold_gets_a_gradient_and_a_familiar_input_writes_nothing() -> None:
    mem = memory({"use": "surprise_writer", "learn_threshold": True, "threshold": 0.5})
    x = torch.randn(4, 6, 3)
    y, state = mem(x)
    y.square().sum().backward()
    threshold = mem.writers[0].threshold
    assert threshold is not None and threshold.grad is not None and float(threshold.grad.abs()) > 0
    familiar = torch.cat([x[:, :1]] * 3, dim=1)
    _, state = mem(familiar)
    assert state["occupied"].sum(-1).tolist() == [1, 1, 1, 1]


def test_reads_see_the_table_before_this_steps_writes() -> None:
    mem = memory({"use": "append_writer"})
    y, state = mem(torch.randn(2, 1, 3))
    assert torch.equal(y, torch.zeros_like(y))  # nothing written before step 0
    assert state["occupied"].tolist() == [[True, False, False]] * 2


def test_write_slot_blends_by_amount_and_leaves_the_incoming_table_alone() -> None:
    keys, values = torch.ones(2, 3, 2), torch.ones(2, 3, 1)
    t = Table(keys, values, torch.zeros(2, 3, dtype=torch.bool))
    new = write_slot(t, torch.tensor([1, 2]), torch.zeros(2, 2), torch.full((2, 1), 3.0), torch.tensor([0.25, 0.0]))
    assert new.keys[0, 1].tolist() == [0.75, 0.75] and new.values[0, 1].tolist() == [1.5]
    assert torch.equal(new.keys[1], keys[1]) and new.occupied.tolist() == [[False, True, False], [False] * 3]
    assert torch.equal(t.keys, torch.ones(2, 3, 2)) and not t.occupied.any()


def test_long_term_is_a_large_table_read_sparsely() -> None:
    mem = engrammar.build("long_term", in_features=4)
    assert mem.spec.num_slots == 4096 and type(mem.readers[0]).__name__ == "SparseReader"
    assert mem.readers[0].spec.top_k == 8 and type(mem.writers[0]).__name__ == "UsageWriter"
    assert engrammar.build("long_term", in_features=4, num_slots=64).spec.num_slots == 64


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"readers": [{"use": "usage_writer"}]}, "episodic.readers[0].use: 'usage_writer' (writers) is not a reader"),
        ({"writers": [{"use": "sparse_reader"}]}, "episodic.writers[0].use: 'sparse_reader' (readers) is not a writer"),
        ({"readers": [{"use": "sparse_reader", "top_k": 9}]}, "episodic.readers[0].top_k: must be <= num_slots (3)"),
        ({"readers": [{"use": "sparse_reader", "top_k": 1}]}, "episodic.readers[0].top_k: must be >= 2"),
        ({"readers": [{"use": "content_reader", "key_size": 5}]}, "episodic.readers[0].key_size: is 2, filled in"),
        ({"readers": [{"use": "content_reader", "sharpen": True}]}, "episodic.readers[0].sharpen: unknown field"),
        ({"readers": [{"use": "no_such_reader"}]}, "episodic.readers[0].use: no component named 'no_such_reader'"),
        ({"writers": []}, "episodic.writers: must name at least one head"),
        ({"writers": [{"kind": "lru"}]}, "episodic.writers[0]: must name a head from the registry"),
        ({"writers": [{"use": "surprise_writer", "threshold": 2.0}]}, "episodic.writers[0].threshold: must be"),
    ],
)
def test_a_wrong_head_gets_one_line_naming_its_path(fields: dict[str, object], message: str) -> None:
    with pytest.raises(SpecError) as caught:
        engrammar.build("episodic", **{**TABLE, **fields})
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


def test_the_heads_are_listed_in_their_own_kinds() -> None:
    readers = {info.name for info in engrammar.components("readers")}
    writers = {info.name for info in engrammar.components("writers")}
    assert {"content_reader", "attention_reader", "sparse_reader"} <= readers
    assert {"append_writer", "usage_writer", "surprise_writer"} <= writers
    assert not readers & writers


def test_a_wiring_file_round_trips_its_heads(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "w.yaml"
    path.write_text(
        "name: w\nin_features: 3\nnodes:\n"
        "  mem: {use: episodic, num_slots: 4, readers: [{use: sparse_reader, top_k: 2}, {use: attention_reader}],"
        " writers: [{use: surprise_writer, learn_threshold: true}], in: x}\nout: mem\n"
    )
    graph = engrammar.build(str(path))
    mem = graph.nodes["mem"]
    assert [type(r).__name__ for r in mem.readers] == ["SparseReader", "AttentionReader"]
    assert mem.writers[0].threshold is not None
    y, _ = graph(torch.randn(2, 5, 3))
    assert y.shape == (2, 5, 32)


def test_engrammar_describe_shows_a_heads_fields_and_state(capsys) -> None:  # type: ignore[no-untyped-def]
    from engrammar.cli import main

    assert main(["describe", "usage_writer", "--in-features", "4", "--set", "num_slots=8"]) == 0
    printed = capsys.readouterr().out
    assert "usage_writer (writers, engrammar-episodic" in printed and "state (in_features=4)" in printed
    assert "('B', 8)" in printed and "int64" in printed
    assert main(["describe", "sparse_reader"]) == 0
    assert "top_k" in capsys.readouterr().out
