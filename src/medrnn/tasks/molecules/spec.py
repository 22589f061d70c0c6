"""Molecular property tasks: which file, SMILES column, targets, task type, metric and split MoleculeNet uses.

A task spec is data, not code: `medrnn train smiles --data bbbp` resolves it here (`medrnn data fetch moleculenet`
downloads the files); any other CSV works
with explicit `--target` columns. Recommended splits follow MoleculeNet (Wu et al. 2018).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from medrnn.errors import ConfigError

TaskType = Literal["classification", "regression"]

TOX21_TASKS = ("NR-AR", "NR-AR-LBD", "NR-AhR", "NR-Aromatase", "NR-ER", "NR-ER-LBD", "NR-PPAR-gamma",
               "SR-ARE", "SR-ATAD5", "SR-HSE", "SR-MMP", "SR-p53")  # fmt: skip
SIDER_TASKS = (
    "Hepatobiliary disorders", "Metabolism and nutrition disorders", "Product issues", "Eye disorders",
    "Investigations", "Musculoskeletal and connective tissue disorders", "Gastrointestinal disorders",
    "Social circumstances", "Immune system disorders", "Reproductive system and breast disorders",
    "Neoplasms benign, malignant and unspecified (incl cysts and polyps)",
    "General disorders and administration site conditions", "Endocrine disorders", "Surgical and medical procedures",
    "Vascular disorders", "Blood and lymphatic system disorders", "Skin and subcutaneous tissue disorders",
    "Congenital, familial and genetic disorders", "Infections and infestations",
    "Respiratory, thoracic and mediastinal disorders", "Psychiatric disorders", "Renal and urinary disorders",
    "Pregnancy, puerperium and perinatal conditions", "Ear and labyrinth disorders", "Cardiac disorders",
    "Nervous system disorders", "Injury, poisoning and procedural complications",
)  # fmt: skip


@dataclass(frozen=True)
class MoleculeTaskSpec:
    """One molecular property benchmark: its file under the data root and how to read and score it."""

    name: str
    file: str  # relative to the data root, e.g. moleculenet/BBBP.csv
    smiles_column: str
    targets: tuple[str, ...]
    task_type: TaskType
    split: Literal["random", "scaffold"]  # MoleculeNet's recommendation
    description: str
    published: float  # best MoleculeNet (Wu et al. 2018) test figure: ROC-AUC, or RMSE in target units

    @property
    def metric(self) -> str:
        return "roc_auc" if self.task_type == "classification" else "rmse"


# fmt: off
MOLECULENET: dict[str, MoleculeTaskSpec] = {
    s.name: s
    for s in (
        MoleculeTaskSpec("bbbp", "moleculenet/BBBP.csv", "smiles", ("p_np",), "classification", "scaffold",
                         "blood-brain barrier penetration", 0.729),
        MoleculeTaskSpec("bace", "moleculenet/bace.csv", "mol", ("Class",), "classification", "scaffold",
                         "BACE-1 inhibition", 0.867),
        MoleculeTaskSpec("hiv", "moleculenet/HIV.csv", "smiles", ("HIV_active",), "classification", "scaffold",
                         "HIV replication inhibition (NCI DTP)", 0.792),
        MoleculeTaskSpec("tox21", "moleculenet/tox21.csv", "smiles", TOX21_TASKS, "classification", "random",
                         "12 toxicity assays (Tox21 2014)", 0.829),
        MoleculeTaskSpec("clintox", "moleculenet/clintox.csv.gz", "smiles", ("FDA_APPROVED", "CT_TOX"), "classification",
                         "random", "FDA approval and clinical-trial toxicity", 0.832),
        MoleculeTaskSpec("sider", "moleculenet/sider.csv", "smiles", SIDER_TASKS, "classification", "random",
                         "27 side-effect organ classes (SIDER 4.1)", 0.684),
        MoleculeTaskSpec("esol", "moleculenet/delaney-processed.csv", "smiles", ("measured log solubility in mols per litre",),
                         "regression", "random", "aqueous solubility, log mol/L", 0.58),
        MoleculeTaskSpec("freesolv", "moleculenet/SAMPL.csv", "smiles", ("expt",), "regression", "random",
                         "hydration free energy, kcal/mol", 1.15),
        MoleculeTaskSpec("lipophilicity", "moleculenet/Lipophilicity.csv", "smiles", ("exp",), "regression", "random",
                         "octanol/water distribution coefficient logD at pH 7.4", 0.655),
    )
}
# fmt: on


def get_spec(name: str) -> MoleculeTaskSpec:
    """Spec of a MoleculeNet task by name (case-insensitive), or a ConfigError listing them."""
    key = name.lower()
    if key not in MOLECULENET:
        raise ConfigError(f"unknown molecule dataset {name!r}; known: {', '.join(MOLECULENET)} (or pass a CSV path)")
    return MOLECULENET[key]


def infer_task_type(y: np.ndarray) -> TaskType:
    """'classification' when every observed label is 0 or 1, else 'regression'."""
    observed = y[~np.isnan(y)]
    return "classification" if observed.size and np.isin(observed, (0.0, 1.0)).all() else "regression"
