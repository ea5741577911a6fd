"""``engrammar train`` plots the routing of every routed node: a moe with its built-in router (the
node itself is traced) and a moe with a router from the registry (the router is)."""

from __future__ import annotations

from pathlib import Path

import pytest

engrammar_train = pytest.importorskip("engrammar_train", reason="the trainer is engrammar-train")
pytest.importorskip("engrammar_tasks", reason="the task comes from engrammar-tasks")
pytest.importorskip("engrammar_routers", reason="topk_router comes from engrammar-routers")

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize(
    ("example", "prefix"),
    [("mixture_top1.yaml", "nodes_mix"), ("mixture_topk_router.yaml", "nodes_mix_router")],
)
def test_a_run_writes_the_routing_plots_of_its_mixture(example: str, prefix: str, tmp_path: Path) -> None:
    result = engrammar_train.train(
        str(EXAMPLES / example), "antipodal", steps=2, batch_size=4, out=tmp_path, progress=False,
        overrides=["task.T=16", "train.eval_every=2"],
    )  # fmt: skip
    written = sorted(p.name for p in (tmp_path / "trace").glob("*.png"))
    assert written == [f"{prefix}_routing_share.png", f"{prefix}_routing_weights.png"]
    assert all(tmp_path / "trace" / name in result.plots for name in written)
