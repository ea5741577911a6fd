"""A router from a third party's package: installed with pip, listed among the routers, used by
``moe`` by name in a wiring, trained with ``engrammar train`` (which plots its routing), and run
through the conformance suite with one line.

The fixture package is installed into a temporary folder (a real, non-editable install) and
every check runs in a subprocess that has that folder on its path.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from engrammar.testing.properties import PROPERTIES

FIXTURE = Path(__file__).parent / "fixtures" / "acme_routers"

WIRING = """\
name: sticky_mixture
in_features: 3
nodes:
  ctrl: {use: linear, out_features: 4, in: x}
  fast: {use: ema, init_decay: 0.3, in: ctrl}
  slow: {use: ema, init_decay: 0.95, in: ctrl}
  mix: {use: moe, router: {use: acme_sticky, in: ctrl, stickiness: 1.5}, experts: [fast, slow]}
out: mix
"""

USE_IT = """\
import engrammar
import torch

graph = engrammar.build("sticky.yaml")
mix = graph.nodes["mix"]
x = torch.randn(2, 5, 3)
with engrammar.recording(graph, traces=True) as record:
    y, state = graph(x)
weights = record.traces["nodes.mix.router"]["weights"]
hidden = graph.nodes["ctrl"](x)[0]
experts = torch.stack([graph.nodes[name](hidden)[0] for name in ("fast", "slow")], dim=-2)
print(
    type(mix.router).__module__,
    mix.router.spec.stickiness,
    tuple(y.shape),
    tuple(state["mix"]["router"]["previous"].shape),
    record.metrics["nodes.mix.router.steps"],
    bool(torch.allclose(y, (weights.unsqueeze(-1) * experts).sum(-2))),
)
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [
            sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
            "--target", str(target), str(FIXTURE),
        ],
        check=True,
    )  # fmt: skip
    return target


def run(site: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, cwd=cwd)


def test_it_is_listed_among_the_routers(site: Path) -> None:
    result = run(site, "-m", "engrammar.cli", "list", "routers")
    assert result.returncode == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if "acme_sticky" in line)
    assert "routers" in row and "acme-routers" in row and "0.2.0" in row and "Sticky router" in row
    for first_party in ("softmax_router", "topk_router", "hash_router", "token_router"):
        assert first_party in result.stdout


def test_moe_uses_it_by_name(site: Path, tmp_path: Path) -> None:
    (tmp_path / "sticky.yaml").write_text(WIRING)
    (tmp_path / "use_it.py").write_text(USE_IT)
    result = run(site, "use_it.py", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["acme_routers.sticky", "1.5", "(2,", "5,", "4)", "(2,", "2)", "5.0", "True"]


def test_engrammar_train_plots_its_routing(site: Path, tmp_path: Path) -> None:
    (tmp_path / "sticky.yaml").write_text(WIRING)
    result = run(
        site, "-m", "engrammar.cli", "train", "sticky.yaml", "--task", "antipodal", "--steps", "2", "--batch-size", "4",
        "--out", "run", "--no-progress", "--set", "task.T=12", "--set", "train.eval_every=2",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    written = sorted(p.name for p in (tmp_path / "run" / "trace").glob("*.png"))
    assert written == ["nodes_mix_router_routing_share.png", "nodes_mix_router_routing_weights.png"]


def test_its_one_line_conformance_suite_passes(site: Path) -> None:
    tests = FIXTURE / "tests"
    result = run(
        site,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        f"--rootdir={tests.parent}",
        f"--confcutdir={tests}",
        str(tests),
        cwd=tests,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{2 * len(PROPERTIES)} passed" in result.stdout  # every property, for each of its two specs
