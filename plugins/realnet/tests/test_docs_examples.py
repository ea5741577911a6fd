"""Every Python block of docs/realnet.md, run as written, in order, in one namespace (in a
temporary folder, since the checkpoint example writes files); then what the comments promise."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

DOC = Path(__file__).resolve().parents[3] / "docs" / "realnet.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


@pytest.mark.skipif(not DOC.is_file(), reason="docs/realnet.md is not beside this installed plugin")
def test_the_documented_examples_run_and_do_what_they_say(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    blocks = python_blocks(DOC.read_text(encoding="utf-8"))
    assert len(blocks) >= 8
    namespace: dict[str, object] = {"__name__": "docs_realnet"}
    for index, block in enumerate(blocks):
        try:
            exec(compile(block, f"docs/realnet.md block {index}", "exec"), namespace)
        except Exception as error:  # name the block that failed
            raise AssertionError(f"block {index} of docs/realnet.md failed:\n{block}") from error
    ns = namespace
    assert ns["model"].num_neurons == 10  # the constructor block rebinds `model`
    # XOR, the first block: its printed predictions read 0, 1, 1, 0.
    printed = capsys.readouterr().out
    first = re.search(r"tensor\(\[([^\]]*)\]\)", printed)
    assert first is not None
    values = [float(v) for v in first.group(1).split(",")]
    assert [v > 0.5 for v in values] == [False, True, True, False]
    assert ns["states"].shape == (1, 3, 6) and ns["logits"].shape == (5, 4, 10) and ns["scores"].shape == (2, 36, 100)
    assert ns["x_in"].tolist() == [[0.5, 1.0, 0.0, 0.0, 0.0, 0.0]]
    assert ns["big_model"].num_neurons == 32 and ns["info"]["skipped"] == ["weight", "bias"]
    assert torch.equal(ns["big_model"].weight.detach()[:16, :16], ns["small"].weight.detach())
    assert ns["revived"] == 3 and ns["total"] == 64
    assert ns["trainer"].model.num_neurons in (8, 9)
    assert ns["y"].shape == (2, 5, 4) and ns["state"]["neurons"].shape == (2, 16)
    assert (tmp_path / "small_model_checkpoint.pth").is_file()


def test_the_calls_of_realnets_documentation_with_their_keyword_names(tmp_path) -> None:
    """RealNet's documentation's calls, keyword for keyword (``device='cpu'`` for ``'cuda'``)."""
    from realnet import RealNet, RealNetTrainer, transplant_weights
    from realnet.core.network import RealNet as NetworkRealNet
    from realnet.training.trainer import RealNetTrainer as TrainingRealNetTrainer
    from realnet.utils.data import prepare_input, to_tensor
    from realnet.utils.realstore import get_checkpoint_info, load_checkpoint, save_checkpoint

    assert NetworkRealNet is RealNet and TrainingRealNetTrainer is RealNetTrainer
    model = RealNet(
        num_neurons=10, input_ids=[0, 1], output_ids=[9], pulse_mode=True, dropout_rate=0.1, device="cpu",
        vocab_size=None, vocab_mode="hybrid",
    )  # fmt: skip
    all_states, final_state = model.forward(x_input=torch.rand(4, 2), steps=3, current_state=None)
    assert all_states.shape == (4, 3, 10) and final_state.shape == (4, 10)
    trainer = RealNetTrainer(
        model, optimizer=None, loss_fn=None, lr=1e-4, device="cpu", gradient_persistence=0.0, synaptic_noise=1e-6
    )
    X, Y = torch.rand(8, 2), torch.rand(8, 1)
    history = trainer.fit(input_features=X, target_values=Y, epochs=2, batch_size=32, thinking_steps=10)
    assert len(history) == 2
    trainer.train_batch(X, Y, thinking_steps=10, gradient_accumulation_steps=4)
    assert trainer.predict(input_features=X, thinking_steps=10, full_sequence=False).shape == (8, 1)
    revived, total = trainer.regenerate_synapses(threshold=0.01)
    assert 0 <= revived <= total == 100
    assert trainer.regenerate_synapses(percentage=0.05) == (5, 100)
    trainer.expand(amount=1, verbose=True)
    assert model.num_neurons == 11
    path = tmp_path / "small_model_checkpoint.pth"
    save_checkpoint(model, trainer.optimizer, epoch=1, loss=0.5, path=path, extra_data=None)
    assert get_checkpoint_info(path, device="cpu")["num_neurons"] == 11
    same = RealNet(11, [0, 1], [9])
    load_checkpoint(same, None, path, device="cpu", strict=True)
    big_model = RealNet(num_neurons=16, input_ids=[0, 1], output_ids=[9])
    transplant_weights(big_model, checkpoint_path=path, device="cpu", verbose=True)
    assert torch.equal(big_model.weight.detach()[:11, :11], model.weight.detach())
    x_in, batch_size = prepare_input(
        input_features=X.numpy(), model_input_ids=model.input_ids, num_neurons=11, device="cpu"
    )
    assert x_in.shape == (8, 11) and batch_size == 8
    assert to_tensor(data=[1.0, 2.0], device="cpu").dtype == torch.float32
