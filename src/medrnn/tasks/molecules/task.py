"""Molecules: SMILES -> bioactivity, toxicity or physical properties (MoleculeNet or a user's CSV).

One sample per molecule (RDKit canonical SMILES, atom-level tokens); one output per target column, NaN = missing
label. Split by Bemis-Murcko scaffold (no scaffold on two sides) or at random (by row), MoleculeNet's choice per dataset.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
from torch import nn
from torch.utils.data import DataLoader

from medrnn.data.splits import Split, make_split, murcko_scaffold
from medrnn.errors import ConfigError
from medrnn.io.smiles import read_smiles_csv
from medrnn.metrics.outputs import evaluate_outputs
from medrnn.models import build_model
from medrnn.atomic import write_text
from medrnn.records import MoleculeTable
from medrnn.tasks.serving import ServedInput
from medrnn.tasks.base import InputItem, Scores, Section, Task, TaskData, TaskOption, register_task
from medrnn.tasks.molecules import explain as explaining
from medrnn.tasks.molecules.config import SmilesRunConfig
from medrnn.tasks.molecules.decision import balanced_threshold, domain_fields, domain_report, oov_tokens, part_metric
from medrnn.tasks.molecules.data import (Molecules, SmilesDataset, load_table, missing_molecule_data, token_loaders,
                                         unknown_tokens)  # fmt: skip
from medrnn.tasks.molecules.pipeline import SmilesPipeline
from medrnn.tasks.molecules.splitfile import split_from_file
from medrnn.tasks.molecules.predict import predict_smiles
from medrnn.tasks.molecules.report import molecule_sections, write_attention
from medrnn.tasks.molecules.selection import loss_of_scores

log = logging.getLogger(__name__)


@register_task
class MoleculesTask(Task):
    """SMILES -> bioactivity, toxicity or properties, with scaffold or random splits and optional LM pretraining."""

    name = "molecules"
    aliases = ("smiles",)
    title = "SMILES -> bioactivity, toxicity or properties (MoleculeNet or a CSV; token biLSTM with attention)"
    data = "moleculenet (bbbp, bace, hiv, tox21, clintox, sider, esol, freesolv, lipophilicity) or a CSV of SMILES"
    readers = ("read_smiles_csv",)
    split_unit = "molecule (scaffold split: Bemis-Murcko scaffold groups; random split: the table row)"
    output_kinds = ("binary", "multilabel", "regression")
    input_axes = ("token",)
    default_model = "lstm"
    models = ("lstm", "gru", "rnn")
    time_estimate = "about 10 min for BBBP on 2 CPU cores (50 epochs; docs/benchmarks.md); HIV (41k molecules) longer"
    config_class = SmilesRunConfig
    predict_help = ("CSV files with a SMILES column (--smiles-column, default smiles/canonical_smiles/smi/mol; --id-column "
                    "to carry an id): one row per molecule RDKit parses: item_id (the file as given), row (0-based data row), id, smiles, "
                    "canonical_smiles, p_<target> (or the predicted value); unparsable rows are reported with row number "
                    "and reason")  # fmt: skip
    options = (
        TaskOption("--data", "data.data", "MoleculeNet name (bbbp, bace, hiv, tox21, clintox, sider, esol, freesolv, "
                   "lipophilicity) or a CSV path.", short="-d"),
        TaskOption("--target", "data.targets", "Target column(s), comma-separated: 'p_np' or 'NR-AR,SR-p53'. Empty cells = "
                   "missing labels.", kind="list", short="-t"),
        TaskOption("--smiles-column", "data.smiles_column", "Column with SMILES (default: smiles, canonical_smiles, smi or mol)."),
        TaskOption("--split", "data.split", "scaffold (Bemis-Murcko, balanced) or random; default: MoleculeNet's choice for "
                   "the dataset, random for a CSV."),
        TaskOption("--split-file", "data.split_file", "A published split to reproduce: JSON {train, val, test: data rows} (as a "
                   "run's split.json) or a CSV with columns row,split."),
        TaskOption("--task-type", "data.task_type", "classification or regression (default: classification when every "
                   "label is 0/1)."),
        TaskOption("--augment", "data.augment", "Random SMILES per molecule per epoch (0 = canonical only).", kind="int"),
        TaskOption("--tta", "data.tta", "Test-time averaging over this many random SMILES (0 = canonical only).", kind="int"),
        TaskOption("--pretrain", "pretrain.enabled", "First train the embedding and first biLSTM layer as a SMILES language "
                   "model on every MoleculeNet molecule outside this dataset (pretrain.corpus), then fine-tune; the LM is "
                   "cached, so only the first run per dataset pays for it (minutes).", kind="bool"),
        TaskOption("--descriptors", "data.descriptors", "Per-molecule features joined to the SMILES encoder's before the head: "
                   "none, rdkit2d (RDKit's 2-D descriptors, scaled on train), ecfp4 (2,048 ECFP4 bits) or rdkit2d+ecfp4 "
                   "(default: none; docs/benchmarks.md measures each)."),
    )  # fmt: skip
    served_input = ServedInput(uploads=(".csv",), json_suffix=".csv", json_columns=("smiles",), json_one_file=True,
                               json_example=["CCO", "c1ccccc1O", "CC(=O)Oc1ccccc1C(=O)O"])  # a SMILES list: one CSV
    examples = ("medrnn train smiles --data bbbp --out runs/bbbp", "medrnn train smiles --data tox21 --split scaffold --seed 1",
                "medrnn train smiles --data bace --pretrain --descriptors rdkit2d+ecfp4 --out runs/bace-lm-ecfp",
                "medrnn train smiles --data assays.csv --target pIC50 --split scaffold --out runs/pic50")  # fmt: skip

    predict_options = (
        TaskOption("--smiles-column", "smiles_column",
                   "Molecule models: the column with SMILES (default: smiles, canonical_smiles, smi or mol)."),
        TaskOption("--id-column", "id_column", "Molecule models: a column carried into the output as the molecule id (default: row)."),
    )  # fmt: skip

    def quick_config(self) -> SmilesRunConfig:
        return SmilesRunConfig.model_validate({"data": {"data": "freesolv", "tta": 1},
                                               "model": {"hidden_size": 16, "embedding_dim": 16, "attention_size": 8, "head_hidden": 16},
                                               "train": {"max_epochs": 1, "progress": False}, "bootstrap": 20})  # fmt: skip

    # ---- training ------------------------------------------------------------------------------------------------
    def missing_data(self, config: SmilesRunConfig) -> dict[str, list[str]]:
        return missing_molecule_data(config)

    def load(self, config: SmilesRunConfig, progress: bool = False) -> TaskData:
        table, report, task_type, split_kind = load_table(config)
        for r in report.rejected:
            log.warning("%s row %d rejected (%s): %s", report.source, r.row, r.reason, r.smiles)
        # a scaffold split keeps each scaffold on one side; a random split draws rows (a molecule listed twice is two rows)
        if config.data.split_file:
            split_kind = "file"  # the file decides; rows are the units (a published split may share scaffolds across parts)
        units = [murcko_scaffold(s) for s in table.smiles] if split_kind == "scaffold" else [f"row {r}" for r in table.rows]
        return TaskData(Molecules(table, task_type, split_kind), np.array(units, dtype=str), list(table.smiles), {"read": report.to_dict()})

    def split(self, data: TaskData, config: SmilesRunConfig) -> Split:
        mols: Molecules = data.samples
        d = config.data
        seed = config.train.seed if d.split_seed is None else d.split_seed
        scaffolds = list(data.units) if mols.split_kind == "scaffold" else None  # computed once, in load
        if d.split_file:
            split, info = split_from_file(d.split_file, mols.table.rows, int(data.info["read"]["n_read"]))
            data.info["split_file"] = info
        else:
            split = make_split(mols.split_kind, mols.table.smiles, d.split_sizes, seed, scaffolds=scaffolds)
        sides = [set(mols.table.smiles[i] for i in part) for part in split]
        twice = len((sides[0] & sides[1]) | (sides[0] & sides[2]) | (sides[1] & sides[2]))
        data.info["split"] = {"kind": mols.split_kind, "seed": seed, "sizes": list(d.split_sizes), "molecules_on_two_sides": twice}
        if twice:
            log.warning("%d molecules appear in more than one row and lie on two sides of the %s split", twice, mols.split_kind)
        return split

    def subset(self, data: TaskData, index: np.ndarray) -> MoleculeTable:
        return data.samples.table.subset(np.asarray(index, dtype=np.int64))

    def join(self, parts: list[MoleculeTable]) -> MoleculeTable:
        return MoleculeTable.concat(parts)

    def fit_pipeline(self, data: TaskData, split: Split, config: SmilesRunConfig) -> SmilesPipeline:
        mols: Molecules = data.samples
        pipeline = SmilesPipeline.fit(mols.table, split.train, mols.task_type, config)
        smiles = mols.table.smiles
        fitted_on = "the pretraining corpus" if config.pretrain.enabled else "the training split"
        data.info["vocabulary"] = {"size": len(pipeline.vocab), "fitted_on": fitted_on,
                                   **{f"unknown_tokens_{k}": unknown_tokens([smiles[i] for i in v], pipeline.vocab)
                                      for k, v in split._asdict().items()}}  # fmt: skip
        return pipeline

    def pipeline_from_state(self, state: dict[str, Any]) -> SmilesPipeline:
        return SmilesPipeline.from_state_dict(state)

    def targets(self, data: TaskData, index: np.ndarray, pipeline: SmilesPipeline) -> np.ndarray:
        return data.samples.table.targets[np.asarray(index, dtype=np.int64)]

    def build_model(self, data: TaskData, split: Split, pipeline: SmilesPipeline,
                    config: SmilesRunConfig) -> tuple[nn.Module, dict[str, Any]]:  # fmt: skip
        model = build_model(config.model.name, config.model, input_size=config.model.embedding_dim, vocab_size=len(pipeline.vocab),
                            num_classes=len(pipeline.label_names), num_static=pipeline.num_static)  # fmt: skip
        if pipeline.pretrained is not None:
            from medrnn.tasks.molecules.pretrain import load_pretrained

            load_pretrained(model, pipeline.pretrained, config.pretrain.freeze, pipeline.tokens())
            pipeline.pretrained = None  # in the model now; the artifact holds the weights once
        return model, {"pretrain": pipeline.pretrain_stats}

    def pretrain(self, config: SmilesRunConfig, out: Path) -> dict[str, Any]:
        """The SMILES language model (pretrain.* settings) on every corpus molecule outside `data.data`, as an artifact."""
        from medrnn.tasks.molecules.pretrain import write_pretrained

        return write_pretrained(config, list(self.load(config).samples.table.smiles), out)

    def loaders(self, data: TaskData, split: Split, pipeline: SmilesPipeline,
                config: SmilesRunConfig) -> tuple[DataLoader, DataLoader, list]:  # fmt: skip
        table, t = data.samples.table, config.train
        y = pipeline.scale(table.targets)
        smiles = list(table.smiles)
        augment = config.data.augment > 0
        train_smiles, val_smiles = [smiles[i] for i in split.train], [smiles[i] for i in split.val]
        train_set = SmilesDataset(train_smiles, y[split.train], pipeline.vocab, augment=augment, seed=t.seed,
                                  static=pipeline.static(train_smiles, cache=True))  # fmt: skip
        val_set = SmilesDataset(val_smiles, y[split.val], pipeline.vocab, static=pipeline.static(val_smiles, cache=True))
        return token_loaders(train_set, val_set, t.batch_size, t.seed, t.num_workers)

    def predict(self, model: nn.Module, pipeline: SmilesPipeline, samples: MoleculeTable) -> Scores:
        if len(samples) == 0:
            return Scores(np.zeros((0, len(pipeline.label_names))), {"tokens": []})
        out = predict_smiles(model, pipeline.vocab, list(samples.smiles), pipeline.task_type, pipeline.scaler, pipeline.tta,
                             pipeline.tta_seed, static=pipeline.static(list(samples.smiles)))  # fmt: skip
        extras: dict[str, Any] = {"tokens": out.tokens}
        if out.attention is not None:
            extras["attention"] = out.attention
        return Scores(out.scores, extras)

    def evaluate(self, y: np.ndarray, scores: Scores, units: np.ndarray, pipeline: SmilesPipeline, config: SmilesRunConfig,
                 samples: Any) -> Any:  # fmt: skip
        # one molecule per unit (random split): resample rows; scaffold groups: resample whole scaffolds
        unit = "molecules" if len(set(units.tolist())) == len(units) else "scaffolds"
        return evaluate_outputs(y, scores.values, list(pipeline.label_names), pipeline.output_kind, units=units, unit=unit,
                                n_boot=config.bootstrap, seed=config.train.seed)  # fmt: skip

    def write_outputs(self, run_dir: Path, data: TaskData, split: Split, pipeline: SmilesPipeline, scores: Scores,
                      model: nn.Module, config: SmilesRunConfig) -> dict[str, Any]:  # fmt: skip
        if "attention" in scores.extras:
            test = self.subset(data, split.test)
            write_attention(run_dir / "attention.json", test.smiles, scores.extras["tokens"], scores.extras["attention"],
                            scores.values, test.targets, pipeline.task_type)  # fmt: skip
        out: dict[str, Any] = {"task_type": pipeline.task_type, "dataset": config.data.data}
        rows = data.samples.table.rows  # the data rows of each part: `--split-file RUN/split.json` reproduces this split
        write_text(run_dir / "split.json", json.dumps({k: sorted(int(rows[i]) for i in v) for k, v in split._asdict().items()}))
        if pipeline.domain is not None:  # how the model does near to and far from its training molecules
            test = self.subset(data, split.test)
            out["applicability_domain"] = domain_report(pipeline.domain, test.smiles, test.targets, scores.values,
                                                        part_metric(pipeline.task_type))  # fmt: skip
        return out

    def tune(self, pipeline: SmilesPipeline, scores: Scores, y: np.ndarray, samples: Any = None) -> dict[str, Any]:
        """Classification: one decision threshold maximising the mean balanced accuracy over labels on validation."""
        if pipeline.task_type != "classification":
            return {}
        pipeline.threshold, value = balanced_threshold(y, scores.values)
        return {"threshold": pipeline.threshold, "criterion": "mean balanced accuracy over labels", "on": "validation",
                "balanced_accuracy": value}  # fmt: skip

    def validation_loss(self, y: np.ndarray, scores: Scores, pipeline: SmilesPipeline) -> float:
        """The training loss on final predictions: BCE over labelled entries, or MSE in standardised units (regression)."""
        return loss_of_scores(y, scores.values, pipeline.task_type, pipeline.scaler)

    def explain_inputs(self, pipeline: Any, samples: Any, index: list[int]) -> list[Any]:
        return explaining.explain_inputs(pipeline, samples, index)

    def explain_figures(self, item: Any, pipeline: Any) -> list[tuple[str, Any]]:
        return explaining.molecule_figures(item)

    # ---- inference -----------------------------------------------------------------------------------------------
    def read_input(self, source: str, pipeline: SmilesPipeline, options: dict[str, Any]) -> InputItem:
        table, report = read_smiles_csv(source, targets=(), smiles_column=options.get("smiles_column"), id_column=options.get("id_column"))
        problems = [{"row": r.row, "smiles": r.smiles, "reason": r.reason} for r in report.rejected]
        return InputItem(str(source), table, problems)

    def decode(self, item: InputItem, scores: Scores, pipeline: SmilesPipeline) -> list[dict[str, Any]]:
        from medrnn.uncertainty.rows import conformal_fields  # conformal columns, only when --coverage was asked

        table: MoleculeTable = item.samples
        names, called = self._value_columns(pipeline), self._class_columns(pipeline)
        # file and row name a molecule whatever the id column holds (ids may repeat, within a file or across files)
        ids = table.ids or tuple(str(r) for r in table.rows)
        near = domain_fields(pipeline.domain, table.smiles)
        oov = oov_tokens(scores.extras.get("tokens") or [[] for _ in table.smiles], pipeline.vocab.index_)
        return [{"item_id": item.item_id, "row": int(r), "id": i, "smiles": s, "canonical_smiles": c,
                 **{k: round(float(v), 6) for k, v in zip(names, values)},
                 **({k: int(v >= pipeline.threshold) for k, v in zip(called, values)} if called else {}),
                 **near[n], "oov_tokens": oov[n], **conformal_fields(scores, n, pipeline)}
                for n, (r, i, s, c, values) in enumerate(zip(table.rows, ids, table.input_smiles, table.smiles,
                                                             scores.values))]  # fmt: skip

    def columns(self, pipeline: SmilesPipeline) -> list[str]:
        from medrnn.uncertainty.rows import conformal_columns  # conformal columns, only when --coverage was asked

        domain = ["nn_similarity", "in_domain"] if pipeline.domain is not None else []
        return ["item_id", "row", "id", "smiles", "canonical_smiles", *self._value_columns(pipeline), *self._class_columns(pipeline),
                *domain, "oov_tokens", *conformal_columns(pipeline)]  # fmt: skip

    @staticmethod
    def _class_columns(pipeline: SmilesPipeline) -> list[str]:
        """pred_<label> (0/1 at the tuned threshold) for classification artifacts that store one."""
        if pipeline.task_type != "classification" or pipeline.threshold is None:
            return []
        return [f"pred_{t}" for t in pipeline.label_names]

    @staticmethod
    def _value_columns(pipeline: SmilesPipeline) -> list[str]:
        prefix = "p_" if pipeline.task_type == "classification" else ""
        return [f"{prefix}{t}" for t in pipeline.label_names]

    # ---- report --------------------------------------------------------------------------------------------------
    def report_sections(self, run_dir: Path, metrics: dict[str, Any]) -> list[Section]:
        return molecule_sections(run_dir, metrics)


def rebuild_from_checkpoint(data: TaskData, split: Split, config: SmilesRunConfig,
                            checkpoint: str | Path) -> tuple[nn.Module, SmilesPipeline]:  # fmt: skip
    """The trained model of a run that kept only checkpoints/best.safetensors: the pipeline and model rebuilt exactly as
    `fit_task` built them, then the checkpoint's weights (runs recorded before artifacts were kept)."""
    from safetensors.torch import load_file

    task = MoleculesTask()
    pipeline = task.fit_pipeline(data, split, config)
    L.seed_everything(config.train.seed, workers=True, verbose=False)
    model, _ = task.build_model(data, split, pipeline, config)
    state = load_file(Path(checkpoint))
    weights = {k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.")}
    if not weights:
        raise ConfigError(f"{checkpoint}: no 'model.*' tensors; expected the best.safetensors of a SMILES training run")
    model.load_state_dict(weights)
    return model.eval(), pipeline


__all__ = ["MoleculesTask", "rebuild_from_checkpoint"]
