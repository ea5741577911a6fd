"""A read head from a third party's package: installed with pip, listed among the readers, used by
``episodic`` by name in a wiring beside a first-party head, trained with ``engrammar train``, and
run through the conformance suite with one line.

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

FIXTURE = Path(__file__).parent / "fixtures" / "acme_heads"

WIRING = """\
name: momentum_recall
in_features: 16
nodes:
  ctrl: {use: lstm, hidden_size: 8, in: x}
  mem:
    use: episodic
    num_slots: 8
    key_size: 4
    value_size: 3
    readers: [{use: acme_momentum_reader, num_heads: 2, momentum: 0.25}, {use: content_reader}]
    writers: [{use: append_writer}]
    in: ctrl
out: [ctrl, mem]
"""

USE_IT = """\
import engrammar
import torch

graph = engrammar.build("momentum.yaml")
mem = graph.nodes["mem"]
x = torch.randn(2, 5, 16)
y, state = graph(x)
reader = mem.readers[0]
print(
    type(reader).__module__,
    reader.spec.momentum,
    reader.spec.key_size,
    tuple(y.shape),
    tuple(state["mem"]["reader_0"]["query"].shape),
    "reader_1" in state["mem"],
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


def test_it_is_listed_among_the_readers(site: Path) -> None:
    result = run(site, "-m", "engrammar.cli", "list", "readers")
    assert result.returncode == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if "acme_momentum_reader" in line)
    assert "readers" in row and "acme-heads" in row and "0.3.0" in row and "Momentum reader" in row
    for first_party in ("content_reader", "attention_reader", "sparse_reader"):
        assert first_party in result.stdout


def test_episodic_uses_it_by_name(site: Path, tmp_path: Path) -> None:
    (tmp_path / "momentum.yaml").write_text(WIRING)
    (tmp_path / "use_it.py").write_text(USE_IT)
    result = run(site, "use_it.py", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    # its fields from the wiring, the table's filled in; 2 x 3 + 1 x 3 read features beside the
    # controller's 8; its own state kept in the memory's, the stateless first-party reader's not
    assert result.stdout.split() == ["acme_heads.momentum", "0.25", "4", "(2,", "5,", "17)", "(2,", "2,", "4)", "False"]


def test_engrammar_train_trains_it(site: Path, tmp_path: Path) -> None:
    (tmp_path / "momentum.yaml").write_text(WIRING)
    result = run(
        site, "-m", "engrammar.cli", "train", "momentum.yaml", "--task", "associative_recall", "--steps", "2",
        "--batch-size", "4", "--out", "run", "--no-progress", "--set", "train.eval_every=2",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "run" / "checkpoint.safetensors").is_file()


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
