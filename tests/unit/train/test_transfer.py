"""Transfer learning: the encoder of an artifact initialises a new model (embedding rows follow the tokens), freezing
really freezes, and an incompatible source is refused naming the parameter and both shapes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from medrnn.artifact import save_artifact
from medrnn.data.splits import Split, subsample_train
from medrnn.errors import ConfigError
from medrnn.models import create_model
from medrnn.train.transfer import Unfreeze, freeze, frozen_names, init_from, is_head

SMILES_STATE = {"tokens": ["<pad>", "<unk>", "<bos>", "<eos>", "C", "O", "N"], "counts": {}}
MOLECULES = {"vocabulary": SMILES_STATE, "target_scaler": None, "task_type": "classification", "label_names": ["a", "b"]}


def tokens_model(vocab: int, classes: int = 2, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return create_model("lstm", input_size=1, num_classes=classes, vocab_size=vocab, embedding_dim=8, hidden_size=[6, 5],
                        num_layers=2, bidirectional=True, head_hidden=0)  # fmt: skip


def signal_model(leads: int, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return create_model("lstm", input_size=leads, num_classes=3, hidden_size=6, frontend="conv", frontend_channels=4, head_hidden=0)


def write_source(tmp_path: Path, model: torch.nn.Module, task: str, preprocessing: dict) -> Path:
    folder = tmp_path / "source"
    save_artifact(folder, model, preprocessing, ["a", "b"], ["test"], extra={"task": task})
    return folder


def test_encoder_copied_head_kept_and_embedding_follows_tokens(tmp_path: Path) -> None:
    source = tokens_model(7, seed=1)
    path = write_source(tmp_path, source, "molecules", MOLECULES)
    target = tokens_model(6, classes=3, seed=2)
    head_before = target.classifier.weight.detach().clone()
    target_tokens = ["<pad>", "<unk>", "<bos>", "<eos>", "N", "Cl"]  # N is shared (source row 6); Cl is new
    cl_before = target.embedding.weight[5].detach().clone()
    report = init_from(target, path, target_tokens=target_tokens)
    assert report["parameters"] > 0 and report["embedding_rows"] == {"shared_tokens": 5, "target_tokens": 6}
    torch.testing.assert_close(target.embedding.weight[4], source.embedding.weight[6])  # N: aligned by token, not by row
    torch.testing.assert_close(target.embedding.weight[5], cl_before)  # a token the source never saw keeps its init
    for name, value in target.state_dict().items():
        if not is_head(name.split(".")[0]) and name != "embedding.weight":
            torch.testing.assert_close(value, source.state_dict()[name])
    torch.testing.assert_close(target.classifier.weight, head_before)  # the head is the new task's own


def test_incompatible_source_is_refused_naming_the_mismatch(tmp_path: Path) -> None:
    path = write_source(tmp_path, signal_model(leads=1), "af_rhythm", {})
    with pytest.raises(ConfigError, match=r"frontend\.layers\.0.*\(4, 1, .*\(4, 2, .*inputs differ"):
        init_from(signal_model(leads=2), path)
    with pytest.raises(ConfigError, match="none of this model's encoder parameters .* model of task 'af_rhythm'"):
        create = create_model("gru", input_size=1, num_classes=2, hidden_size=6, head_hidden=0)
        init_from(torch.nn.Sequential(*create.children()), path)
    with pytest.raises(ConfigError, match="no artifact"):
        init_from(signal_model(1), tmp_path)


def test_freezing_really_freezes_and_unfreeze_restores() -> None:
    model = tokens_model(7)
    names = frozen_names(model, "1")
    assert "embedding.weight" in names and any(n.startswith("forward_layers.0.") for n in names)
    assert not any(n.startswith(("forward_layers.1.", "classifier")) for n in names)
    assert set(frozen_names(model, "encoder")) == {n for n, _ in model.named_parameters() if not n.startswith("classifier")}
    freeze(model, frozen_names(model, "encoder"))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    optimiser = torch.optim.Adam(model.parameters(), lr=0.1)
    from medrnn.data.batch import Batch

    x = torch.randint(4, 7, (3, 5))
    batch = Batch(x=x, lengths=torch.tensor([5, 4, 2]), mask=torch.ones(3, 5, dtype=torch.bool), y=torch.tensor([0, 1, 0]))
    torch.nn.functional.cross_entropy(model(batch).logits, batch.y).backward()
    optimiser.step()
    for name, param in model.named_parameters():
        if name.startswith("classifier"):
            assert not torch.equal(param, before[name])
        else:
            assert param.grad is None and torch.equal(param, before[name]), name

    class Trainer:
        current_epoch = 2

    class Module:
        pass

    module = Module()
    module.model = model  # type: ignore[attr-defined]
    Unfreeze(frozen_names(model, "encoder"), after=2).on_train_epoch_start(Trainer(), module)  # type: ignore[arg-type]
    assert all(p.requires_grad for p in model.parameters())


def test_freeze_choices_are_checked() -> None:
    with pytest.raises(ConfigError, match="expected encoder, frontend"):
        frozen_names(tokens_model(7), "layers")
    with pytest.raises(ConfigError, match="has 2 recurrent layers"):
        frozen_names(tokens_model(7), "3")
    assert frozen_names(signal_model(1), "frontend") and all(n.startswith("frontend.") for n in frozen_names(signal_model(1), "frontend"))


def test_subsample_train_is_nested_and_leaves_val_and_test() -> None:
    split = Split(torch.arange(100).numpy(), torch.arange(100, 110).numpy(), torch.arange(110, 120).numpy())
    small, large = subsample_train(split, 0.05, seed=3), subsample_train(split, 0.25, seed=3)
    assert len(small.train) == 5 and len(large.train) == 25 and set(small.train) <= set(large.train)
    assert (small.val == split.val).all() and (small.test == split.test).all()
    assert subsample_train(split, 1.0, 0) is split
    with pytest.raises(ConfigError, match="train_fraction"):
        subsample_train(split, 0.0, 0)


def test_partial_source_copies_what_it_has_and_lists_the_rest(tmp_path: Path) -> None:
    torch.manual_seed(0)
    shallow = create_model("lstm", input_size=1, num_classes=2, vocab_size=7, embedding_dim=8, hidden_size=[6], num_layers=1,
                           bidirectional=True, head_hidden=0)  # fmt: skip
    path = write_source(tmp_path, shallow, "molecules", MOLECULES)
    deep = tokens_model(7, seed=3)
    report = init_from(deep, path, target_tokens=SMILES_STATE["tokens"])
    assert report["not_in_source"] and all(n.startswith(("forward_layers.1.", "backward_layers.1.")) for n in report["not_in_source"])
    torch.testing.assert_close(deep.forward_layers[0].weight_hh_l0, shallow.forward_layers[0].weight_hh_l0)


def test_run_from_a_run_freezes_the_encoder_and_refuses_another_world(tmp_path: Path) -> None:
    """`medrnn train smiles --init-from RUN --freeze encoder` through the generic run: the frozen encoder leaves training
    exactly as the source had it, the head learns, metrics.json says what moved; an ICU artifact is refused by name."""
    from medrnn.artifact import load_artifact
    from medrnn.tasks.base import get_task
    from medrnn.train.run import run_task

    task = get_task("molecules")
    source_cfg = task.quick_config()
    run_task(task, source_cfg, tmp_path / "source", progress=False)
    cfg = source_cfg.model_copy(update={"train": source_cfg.train.model_copy(update={
        "seed": 1, "init_from": str(tmp_path / "source"), "freeze": "encoder", "train_fraction": 0.5, "explain": 0})})  # fmt: skip
    result = run_task(task, cfg, tmp_path / "target", progress=False)
    transfer = result.metrics["model_init"]["transfer"]
    assert transfer["source_task"] == "molecules" and transfer["parameters"] > 0 and transfer["frozen"] == "encoder"
    source, source_meta = load_artifact(tmp_path / "source" / "model", device="cpu")
    target, target_meta = load_artifact(tmp_path / "target" / "model", device="cpu")
    theirs = source.state_dict()
    for name, value in target.state_dict().items():
        if name.startswith("classifier"):
            assert not torch.equal(value, theirs[name])
        elif name == "embedding.weight":  # this run's own (smaller) vocabulary: rows match token by token
            row = {t: i for i, t in enumerate(source_meta["preprocessing"]["vocabulary"]["tokens"])}
            shared = [(j, row[t]) for j, t in enumerate(target_meta["preprocessing"]["vocabulary"]["tokens"]) if t in row]
            assert len(shared) > 10
            for j, i in shared:
                torch.testing.assert_close(value[j], theirs[name][i], rtol=0, atol=0)
        else:
            torch.testing.assert_close(value, theirs[name], rtol=0, atol=0)
    assert result.metrics["split"]["counts"]["train"] == round(0.5 * len(task.split(task.load(source_cfg), source_cfg).train))

    icu = get_task("icu_mortality")
    run_task(icu, icu.quick_config(), tmp_path / "icu", progress=False)
    bad = source_cfg.model_copy(update={"train": source_cfg.train.model_copy(update={"init_from": str(tmp_path / "icu")})})
    with pytest.raises(ConfigError, match="--init-from .*icu"):
        run_task(task, bad, tmp_path / "refused", progress=False)
    assert not (tmp_path / "refused").exists()
