"""Dataset catalogue: listing, the not-found message, offline fetch, unknown names, MIT-BIH patients."""

from __future__ import annotations

import io
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from medrnn import datasets, download, paths
from medrnn.datasets import DATASETS, list_datasets, mitdb_patient_id, require_dataset
from medrnn.download import fetch_dataset
from medrnn.errors import ConfigError, DataNotFoundError, MedrnnError


def _online() -> bool:
    try:
        socket.create_connection((download.PHYSIONET_HOST, 443), timeout=3).close()
    except OSError:
        return False
    return True


def test_mitdb_catalogue_entry() -> None:
    info = DATASETS["mitdb"]
    assert (info.physionet_db, info.version) == ("mitdb", "1.0.0")
    assert info.url == "https://physionet.org/content/mitdb/1.0.0/"
    assert len(info.records) == 48 and len(set(info.records)) == 48
    files = info.expected_files()
    assert len(files) == 1 + 48 * 3 and files[0] == "RECORDS" and "234.atr" in files
    assert "ODC-By" in info.licence and "Moody" in info.citation


def test_list_shows_mitdb_under_the_data_root() -> None:
    folder = paths.dataset_dir("mitdb")
    if not (folder / "100.hea").is_file():
        pytest.skip(f"MIT-BIH not found under the data root ({folder})")
    (status,) = [s for s in list_datasets() if s.name == "mitdb"]
    assert status.path == folder
    assert status.present and status.n_files == status.n_expected == 145
    assert require_dataset("mitdb") == folder


def test_list_counts_a_partial_copy(empty_root: Path) -> None:
    (empty_root / "mitdb").mkdir()
    for name in ("RECORDS", "100.hea", "100.dat"):
        (empty_root / "mitdb" / name).write_bytes(b"x")
    (status,) = [s for s in list_datasets() if s.name == "mitdb"]
    assert (status.path, status.present, status.n_files) == (empty_root / "mitdb", False, 3)


def test_require_dataset_says_where_it_looked_and_how_to_fetch(empty_root: Path) -> None:
    with pytest.raises(DataNotFoundError) as info:
        require_dataset("mitdb")
    message = str(info.value)
    assert f"not found at {empty_root / 'mitdb'}" in message
    assert "145 of 145 expected files missing (e.g. RECORDS, 100.hea, 100.dat)" in message
    assert f"MEDRNN_DATA ({empty_root})" in message
    assert str(Path("shared") / "data") in message and str(Path(".cache") / "medrnn") in message
    assert "`medrnn data fetch mitdb`" in message
    assert isinstance(info.value, FileNotFoundError)


def test_unknown_dataset_lists_known_ones(tmp_path: Path) -> None:
    for call in (lambda: require_dataset("mitbd"), lambda: fetch_dataset("mitbd", tmp_path)):
        with pytest.raises(ConfigError, match=r"unknown dataset 'mitbd'; known datasets: mitdb"):
            call()


def test_default_fetch_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDRNN_DATA", str(tmp_path / "root"))
    assert datasets.default_fetch_dir("mitdb") == tmp_path / "root" / "mitdb"
    monkeypatch.delenv("MEDRNN_DATA")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert datasets.default_fetch_dir("mitdb") == tmp_path / "home" / ".cache" / "medrnn" / "mitdb"


def _assert_offline_error(dest: Path) -> None:
    start = time.monotonic()
    with pytest.raises(MedrnnError) as info:
        fetch_dataset("mitdb", dest)
    assert time.monotonic() - start < 30
    message = str(info.value)
    assert message.startswith("could not reach PhysioNet (")
    assert "download https://physionet.org/content/mitdb/1.0.0/ manually and point MEDRNN_DATA at its parent" in message


def test_fetch_offline_fails_fast_with_a_clear_message(tmp_path: Path) -> None:
    if _online():
        pytest.skip("PhysioNet is reachable; the offline path is covered by the unresolvable-host test")
    _assert_offline_error(tmp_path / "mitdb")
    assert not (tmp_path / "mitdb").exists()


def test_fetch_unresolvable_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(download, "PHYSIONET_HOST", "physionet.invalid")  # RFC 2606: never resolves
    _assert_offline_error(tmp_path / "mitdb")


def test_fetch_wraps_wfdb_network_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The probe passes, then wfdb.dl_database itself fails for real (requests' ConnectionError)."""
    if _online():
        pytest.skip("PhysioNet is reachable; this test needs wfdb's own download to fail")

    class _Open:
        def close(self) -> None:
            pass

    monkeypatch.setattr(download.socket, "create_connection", lambda *args, **kwargs: _Open())
    _assert_offline_error(tmp_path / "mitdb")


@pytest.mark.parametrize(("record_id", "patient_id"), [("202", "201"), ("201", "201"), ("100", "100"), ("234", "234")])
def test_mitdb_patient_id(record_id: str, patient_id: str) -> None:
    assert mitdb_patient_id(record_id) == patient_id


def test_moleculenet_fetch_unpacks_gz_and_resumes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gzip
    import io

    calls: list[str] = []

    def fake_urlopen(url: str, timeout: float) -> io.BytesIO:
        calls.append(url)
        body = b"smiles,y\nCCO,1\n"
        return io.BytesIO(gzip.compress(body) if url.endswith(".gz") else body)

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    dest = fetch_dataset("moleculenet", tmp_path / "mn")
    assert (dest / "tox21.csv").read_bytes() == b"smiles,y\nCCO,1\n"  # DeepChem's tox21.csv.gz, unpacked
    assert gzip.decompress((dest / "clintox.csv.gz").read_bytes()) == b"smiles,y\nCCO,1\n"  # kept as published
    assert len(calls) == 9 and all(c.startswith("https://deepchemdata.s3") for c in calls)
    fetch_dataset("moleculenet", tmp_path / "mn")
    assert len(calls) == 9  # every file already there: nothing downloaded again


def test_moleculenet_fetch_offline_names_the_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:

    def offline(url: str, timeout: float) -> None:
        raise OSError("Name or service not known")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(MedrnnError, match=r"BBBP.csv.*Name or service not known.*MEDRNN_DATA"):
        fetch_dataset("moleculenet", tmp_path / "mn")
