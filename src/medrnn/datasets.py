"""Catalogue of the datasets medrnn knows: where they live under the data root and how to fetch them."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

from medrnn import paths
from medrnn.errors import ConfigError, DataNotFoundError, MedrnnError

PHYSIONET_HOST = "physionet.org"
_PROBE_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class DatasetInfo:
    """One PhysioNet WFDB database: identity, licence, citation and the files a complete copy has."""

    name: str
    physionet_db: str
    version: str
    description: str
    licence: str
    citation: str
    records: tuple[str, ...]
    extensions: tuple[str, ...] = ("hea", "dat", "atr")
    extra_files: tuple[str, ...] = ("RECORDS",)
    downloads: tuple[tuple[str, str], ...] = ()  # (file name, URL) for datasets not on PhysioNet; .gz URLs of plain files are unpacked
    home: str = ""  # landing page of a non-PhysioNet dataset

    @property
    def url(self) -> str:
        return self.home or f"https://physionet.org/content/{self.physionet_db}/{self.version}/"

    def expected_files(self) -> tuple[str, ...]:
        """File names a complete copy holds, e.g. RECORDS, 100.hea, 100.dat, 100.atr, ..."""
        return self.extra_files + tuple(f"{r}.{ext}" for r in self.records for ext in self.extensions)


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
        raise ConfigError(f"unknown dataset {name!r}; known datasets: {', '.join(sorted(DATASETS))}")
    return DATASETS[name]


def _missing_files(info: DatasetInfo, folder: Path) -> list[str]:
    return [f for f in info.expected_files() if not (folder / f).is_file()]


def list_datasets() -> list[DatasetStatus]:
    """Every known dataset with its folder under `paths.data_root()` and whether the copy is complete."""
    statuses = []
    for info in DATASETS.values():
        folder = paths.dataset_dir(info.name)
        n_expected = len(info.expected_files())
        n_missing = len(_missing_files(info, folder))
        statuses.append(
            DatasetStatus(info.name, info.description, folder, n_missing == 0, n_expected - n_missing, n_expected)
        )
    return statuses


def _where_looked() -> str:
    env = os.environ.get("MEDRNN_DATA")
    shared = Path.cwd().parent / "shared" / "data"
    return (
        f"data root {paths.data_root()}, chosen from: MEDRNN_DATA ({env if env else 'not set'}), "
        f"then {shared} ({'exists' if shared.is_dir() else 'absent'}), then {Path.home() / '.cache' / 'medrnn'}"
    )


def require_dataset(name: str) -> Path:
    """Folder of a complete copy of `name`, or DataNotFoundError saying where it looked and how to fetch."""
    info = get_dataset(name)
    folder = paths.dataset_dir(name)
    missing = _missing_files(info, folder)
    if missing:
        raise DataNotFoundError(
            f"dataset {name!r} not found at {folder}: {len(missing)} of {len(info.expected_files())} expected "
            f"files missing (e.g. {', '.join(missing[:3])}); {_where_looked()}. "
            f"Fetch it with `medrnn data fetch {name}`, or set MEDRNN_DATA to the folder that contains {name}/"
        )
    return folder


def default_fetch_dir(name: str) -> Path:
    """Where `fetch_dataset` writes by default: $MEDRNN_DATA/NAME if set, else ~/.cache/medrnn/NAME."""
    env = os.environ.get("MEDRNN_DATA")
    root = Path(env).expanduser() if env else Path.home() / ".cache" / "medrnn"
    return root / name


def _offline_error(info: DatasetInfo, reason: object) -> MedrnnError:
    return MedrnnError(
        f"could not reach {'the download server' if info.downloads else 'PhysioNet'} ({reason}); download {info.url} manually "
        f"and point MEDRNN_DATA at its parent (the folder that contains {info.name}/)"
    )


def fetch_dataset(name: str, dest: Path | None = None) -> Path:
    """Download `name` from PhysioNet with `wfdb.dl_database` into `dest` and return the folder.

    Files already there with the right size are skipped, so an interrupted fetch can be resumed.
    wfdb downloads PhysioNet's latest version of the database (it cannot pin one).
    """
    info = get_dataset(name)
    dest = Path(dest).expanduser() if dest is not None else default_fetch_dir(name)
    if info.downloads:
        return _fetch_urls(info, dest)
    # wfdb's requests calls have no timeout and would hang on a silent network: probe first.
    try:
        socket.create_connection((PHYSIONET_HOST, 443), timeout=_PROBE_TIMEOUT_S).close()
    except OSError as err:
        raise _offline_error(info, err) from err
    try:
        import wfdb
    except ImportError as err:
        raise MedrnnError("fetching PhysioNet data needs the wfdb package: pip install 'medrnn[signals]'") from err
    try:
        annotators = [ext for ext in info.extensions if ext not in ("hea", "dat")] or None
        wfdb.dl_database(info.physionet_db, str(dest), records=list(info.records), annotators=annotators)
        wfdb.dl_files(info.physionet_db, str(dest), list(info.extra_files))
    except OSError as err:  # requests' ConnectionError and wfdb's NetFileError both derive from OSError
        raise _offline_error(info, err) from err
    missing = _missing_files(info, dest)
    if missing:
        raise MedrnnError(
            f"{dest}: download finished but {len(missing)} files are missing (e.g. {', '.join(missing[:3])}); "
            f"run `medrnn data fetch {name} --dest {dest}` again to resume"
        )
    return dest


def _fetch_urls(info: DatasetInfo, dest: Path, timeout_s: float = 30.0) -> Path:
    """Download each (file, URL) of `info` into `dest` (skipping files already there), unpacking .gz when the file is plain."""
    import gzip
    import urllib.request

    dest.mkdir(parents=True, exist_ok=True)
    for name, url in info.downloads:
        target = dest / name
        if target.is_file() and target.stat().st_size > 0:
            continue
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310  (fixed https URLs)
                payload = response.read()
        except OSError as err:  # URLError and socket timeouts derive from OSError
            raise _offline_error(info, f"{url}: {err}") from err
        if url.endswith(".gz") and not name.endswith(".gz"):
            payload = gzip.decompress(payload)
        partial = target.with_suffix(target.suffix + ".part")
        partial.write_bytes(payload)
        partial.replace(target)
    return dest
