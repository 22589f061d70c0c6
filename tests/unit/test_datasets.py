"""Dataset catalogue: listing, the not-found message, offline fetch, unknown names, MIT-BIH patients."""

from __future__ import annotations

import http.client
import io
import socket
import tarfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from medrnn import datasets, paths
from medrnn.datasets import DATASETS, fetch_dataset, list_datasets, mitdb_patient_id, require_dataset
from medrnn.errors import ConfigError, DataNotFoundError, MedrnnError


def _online() -> bool:
    try:
        socket.create_connection((datasets.PHYSIONET_HOST, 443), timeout=3).close()
    except OSError:
        return False
    return True


@pytest.fixture
def empty_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data root with nothing in it."""
    root = tmp_path / "data"
    root.mkdir()
    monkeypatch.setenv("MEDRNN_DATA", str(root))
    return root


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
    monkeypatch.setattr(datasets, "PHYSIONET_HOST", "physionet.invalid")  # RFC 2606: never resolves
    _assert_offline_error(tmp_path / "mitdb")


def test_fetch_wraps_wfdb_network_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The probe passes, then wfdb.dl_database itself fails for real (requests' ConnectionError)."""
    if _online():
        pytest.skip("PhysioNet is reachable; this test needs wfdb's own download to fail")

    class _Open:
        def close(self) -> None:
            pass

    monkeypatch.setattr(datasets.socket, "create_connection", lambda *args, **kwargs: _Open())
    _assert_offline_error(tmp_path / "mitdb")


@pytest.mark.parametrize(("record_id", "patient_id"), [("202", "201"), ("201", "201"), ("100", "100"), ("234", "234")])
def test_mitdb_patient_id(record_id: str, patient_id: str) -> None:
    assert mitdb_patient_id(record_id) == patient_id


def test_moleculenet_fetch_unpacks_gz_and_resumes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gzip
    import io
    import urllib.request

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
    import urllib.request

    def offline(url: str, timeout: float) -> None:
        raise OSError("Name or service not known")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(MedrnnError, match=r"BBBP.csv.*Name or service not known.*MEDRNN_DATA"):
        fetch_dataset("moleculenet", tmp_path / "mn")


# --- EHR datasets fetched file by file from physionet.org/files/ (physionet2012, mimic3-demo, mimic4-demo) ---

EHR_DATASETS = ("physionet2012", "mimic3-demo", "mimic4-demo")


class _Response(io.BytesIO):
    """What urlopen returns: a readable body with an HTTP status (206 for a Range answer)."""

    def __init__(self, body: bytes, status: int = 200, cut_after: int | None = None) -> None:
        super().__init__(body)
        self.status, self.cut_after = status, cut_after

    def read(self, size: int | None = -1) -> bytes:
        if self.cut_after is not None and self.tell() >= self.cut_after:
            raise http.client.IncompleteRead(b"", len(self.getvalue()) - self.tell())  # the connection dropped mid-file
        limit = self.cut_after - self.tell() if self.cut_after is not None else -1
        return super().read(size if limit < 0 or (size is not None and 0 <= size <= limit) else limit)


class _FakePhysioNet:
    """Stands in for urllib.request.urlopen: serves `files` (URL -> bytes), honours Range, records every request."""

    def __init__(self, files: dict[str, bytes], cut: dict[str, int] | None = None) -> None:
        self.files, self.cut = files, dict(cut or {})
        self.requests: list[tuple[str, str | None]] = []  # (url, Range header)

    def __call__(self, request: str | urllib.request.Request, timeout: float) -> _Response:
        url = request if isinstance(request, str) else request.full_url
        byte_range = None if isinstance(request, str) else request.get_header("Range")
        self.requests.append((url, byte_range))
        body = self.files[url]
        if byte_range:
            return _Response(body[int(byte_range.removeprefix("bytes=").rstrip("-")) :], status=206)
        return _Response(body, cut_after=self.cut.pop(url, None))


def _p12_files() -> dict[str, bytes]:
    """A fake PhysioNet 2012 release: each set a .tar.gz of set-x/NNNNNN.txt, as PhysioNet ships it."""
    files = {}
    for s, rid in zip("abc", ("132539", "142675", "152871")):
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tf:
            text = f"Time,Parameter,Value\n00:00,RecordID,{rid}\n".encode()
            member = tarfile.TarInfo(f"set-{s}/{rid}.txt")
            member.size = len(text)
            tf.addfile(member, io.BytesIO(text))
        files[f"https://physionet.org/files/challenge-2012/1.0.0/set-{s}.tar.gz"] = buffer.getvalue() * 50  # ~10 kB
        files[f"https://physionet.org/files/challenge-2012/1.0.0/Outcomes-{s}.txt"] = f"RecordID,SAPS-I\n{rid},6\n".encode()
    return files


def test_ehr_catalogue_entries() -> None:
    assert set(EHR_DATASETS) <= set(DATASETS) and set(EHR_DATASETS) <= {s.name for s in list_datasets()}
    p12, m3, m4 = (DATASETS[n] for n in EHR_DATASETS)
    assert p12.url == "https://physionet.org/content/challenge-2012/1.0.0/" and "ODC-By" in p12.licence and "Silva I" in p12.citation
    assert m3.url == "https://physionet.org/content/mimiciii-demo/1.4/" and "ODbL" in m3.licence and "C2HM2Q" in m3.citation
    assert m4.url == "https://physionet.org/content/mimic-iv-demo/2.2/" and "ODbL" in m4.licence and "dp1f-ex47" in m4.citation
    assert [name for name, _ in p12.downloads] == [f"{f}-{s}.{e}" for s in "abc" for f, e in (("set", "tar.gz"), ("Outcomes", "txt"))]
    assert p12.requirements()[-1] == ("set-c/", "set-c.tar.gz", "set-c.tar.xz")
    tables = ("ADMISSIONS", "DIAGNOSES_ICD", "PATIENTS", "PROCEDURES_ICD", "PRESCRIPTIONS", "ICUSTAYS", "NOTEEVENTS")
    assert {f"{t}.csv" for t in tables} <= set(m3.expected_files())
    assert ("LABEVENTS.csv", "https://physionet.org/files/mimiciii-demo/1.4/LABEVENTS.csv") in m3.downloads  # fetched, not required
    assert "LABEVENTS.csv" not in m3.expected_files()
    assert {"hosp/admissions.csv.gz", "hosp/diagnoses_icd.csv.gz", "icu/icustays.csv.gz"} <= set(m4.expected_files())
    for info in (p12, m3, m4):
        assert all(url == f"https://physionet.org/files/{info.physionet_db}/{info.version}/{name}" for name, url in info.downloads)
        assert set(dict(info.sizes)) <= {name for name, _ in info.downloads}


@pytest.mark.parametrize("name", EHR_DATASETS)
def test_list_finds_the_shared_ehr_copies_present(name: str) -> None:
    folder = paths.dataset_dir(name)
    if not (folder / "SOURCE.md").is_file():
        pytest.skip(f"{name} not found under the data root ({folder})")
    (status,) = [s for s in list_datasets() if s.name == name]
    assert status.present and status.n_files == status.n_expected == len(DATASETS[name].requirements())
    assert require_dataset(name) == folder
    for file, size in DATASETS[name].sizes:  # the shared copies are PhysioNet's files (SOURCE.md: SHA256SUMS.txt passes)
        assert (folder / file).stat().st_size == size, file


def test_physionet2012_any_form_of_a_set_counts(empty_root: Path) -> None:
    folder = empty_root / "physionet2012"
    folder.mkdir()
    for name in ("Outcomes-a.txt", "Outcomes-b.txt", "Outcomes-c.txt", "set-b.tar.gz", "set-c.tar.xz"):
        (folder / name).write_bytes(b"x")
    (status,) = [s for s in list_datasets() if s.name == "physionet2012"]
    assert (status.present, status.n_files, status.n_expected) == (False, 5, 6)
    with pytest.raises(DataNotFoundError, match=r"1 of 6 expected files missing \(e\.g\. set-a/ or set-a\.tar\.gz or set-a\.tar\.xz\)"):
        require_dataset("physionet2012")
    (folder / "set-a").mkdir()
    assert require_dataset("physionet2012") == folder


def test_physionet2012_fetch_writes_the_release_and_resumes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = _p12_files()
    set_b = "https://physionet.org/files/challenge-2012/1.0.0/set-b.tar.gz"
    server = _FakePhysioNet(files, cut={set_b: 4000})  # the first download of set-b drops after 4,000 bytes
    monkeypatch.setattr(urllib.request, "urlopen", server)
    dest = tmp_path / "physionet2012"
    with pytest.raises(MedrnnError, match=r"set-b\.tar\.gz: .*4000 bytes kept in .*set-b\.tar\.gz\.part, the next fetch resumes"):
        fetch_dataset("physionet2012", dest)
    assert (dest / "set-b.tar.gz.part").stat().st_size == 4000 and not (dest / "set-b.tar.gz").exists()
    assert fetch_dataset("physionet2012", dest) == dest
    assert server.requests[-4] == (set_b, "bytes=4000-")  # resumed where it stopped, not downloaded again
    assert sorted(p.name for p in dest.iterdir()) == sorted(name for name, _ in DATASETS["physionet2012"].downloads)
    for name, url in DATASETS["physionet2012"].downloads:
        assert (dest / name).read_bytes() == files[url], name  # kept as published: .tar.gz is not unpacked
    with tarfile.open(dest / "set-b.tar.gz", "r:gz") as tf:
        assert tf.getnames() == ["set-b/142675.txt"]
    n_requests = len(server.requests)
    fetch_dataset("physionet2012", dest)
    assert len(server.requests) == n_requests  # every file already there: nothing downloaded again
    monkeypatch.setenv("MEDRNN_DATA", str(tmp_path))
    assert require_dataset("physionet2012") == dest


def test_physionet2012_fetch_skips_a_set_already_unpacked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = _FakePhysioNet(_p12_files())
    monkeypatch.setattr(urllib.request, "urlopen", server)
    (tmp_path / "p12" / "set-a").mkdir(parents=True)
    fetch_dataset("physionet2012", tmp_path / "p12")
    assert not any(url.endswith("set-a.tar.gz") for url, _ in server.requests) and len(server.requests) == 5


def test_mimic4_demo_fetch_keeps_csv_gz_and_checks_sizes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    info = DATASETS["mimic4-demo"]
    sizes = dict(info.sizes)
    files = {url: b"x" * sizes.get(name, 10) for name, url in info.downloads}
    bad = "https://physionet.org/files/mimic-iv-demo/2.2/hosp/patients.csv.gz"
    files[bad] = b"<html>Not found</html>"  # e.g. an error page served with status 200
    server = _FakePhysioNet(files)
    monkeypatch.setattr(urllib.request, "urlopen", server)
    dest = tmp_path / "mimic4-demo"
    with pytest.raises(MedrnnError, match=r"hosp/patients\.csv\.gz: downloaded 22 bytes, expected 1083 .*discarded"):
        fetch_dataset("mimic4-demo", dest)
    assert not (dest / "hosp" / "patients.csv.gz").exists() and not (dest / "hosp" / "patients.csv.gz.part").exists()
    files[bad] = b"x" * 1083
    n_before = len(server.requests)
    assert fetch_dataset("mimic4-demo", dest) == dest
    names = [name for name, _ in info.downloads]
    assert len(server.requests) - n_before == len(names) - names.index("hosp/patients.csv.gz")  # the earlier files were kept
    assert (dest / "hosp" / "admissions.csv.gz").stat().st_size == 11072 and (dest / "icu" / "icustays.csv.gz").is_file()
    assert all((dest / name).is_file() for name in info.expected_files())
    (dest / "hosp" / "omr.csv.gz").write_bytes(b"x" * 10)  # truncated by hand: the wrong size gets it fetched again
    n_before = len(server.requests)
    fetch_dataset("mimic4-demo", dest)
    assert server.requests[n_before:] == [("https://physionet.org/files/mimic-iv-demo/2.2/hosp/omr.csv.gz", None)]


@pytest.mark.parametrize("name", EHR_DATASETS)
def test_ehr_fetch_offline_names_the_url(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(url: str, timeout: float) -> None:
        raise urllib.error.URLError(socket.gaierror(-2, "Name or service not known"))

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    info = DATASETS[name]
    first_url = info.downloads[0][1]
    with pytest.raises(MedrnnError) as raised:
        fetch_dataset(name, tmp_path / name)
    message = str(raised.value)
    assert message.startswith(f"could not reach PhysioNet ({first_url}: ") and "Name or service not known" in message
    assert f"download {info.url} manually and point MEDRNN_DATA at its parent" in message


# --- CodiEsp: one zip from Zenodo, unpacked into final_dataset_v4_to_publish/ ---

CODIESP_URL = "https://zenodo.org/records/3837305/files/codiesp.zip?download=1"


def _codiesp_zip(extra: dict[str, bytes] | None = None) -> bytes:
    """A tiny gold standard laid out as the Zenodo zip: final_dataset_v4_to_publish/<split>/..., plus `extra` members."""
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for split in ("train", "dev", "test"):
            folder = f"final_dataset_v4_to_publish/{split}"
            zf.writestr(f"{folder}/text_files/S0001-{split}.txt", "Paciente con dolor.\n")
            zf.writestr(f"{folder}/text_files_en/S0001-{split}.txt", "Patient in pain.\n")
            zf.writestr(f"{folder}/{split}D.tsv", f"S0001-{split}\tr52\n")
            zf.writestr(f"{folder}/{split}P.tsv", f"S0001-{split}\tbw03zzz\n")
            zf.writestr(f"{folder}/{split}X.tsv", f"S0001-{split}\tDIAGNOSTICO\tr52\tdolor\t13 18\n")
        for name, body in (extra or {}).items():
            zf.writestr(name, body)
    return buffer.getvalue()


def test_codiesp_catalogue_entry() -> None:
    info = DATASETS["codiesp"]
    assert "codiesp" in {s.name for s in list_datasets()}
    assert info.url == "https://zenodo.org/records/3837305" and "CC BY 4.0" in info.licence and "10.5281/zenodo.3837305" in info.citation
    assert info.downloads == (("codiesp.zip", CODIESP_URL),)
    files = info.expected_files()
    assert len(files) == 12 and "final_dataset_v4_to_publish/dev/devX.tsv" in files
    assert "final_dataset_v4_to_publish/test/text_files/" in files


def test_list_finds_the_shared_codiesp_copy_present() -> None:
    folder = paths.dataset_dir("codiesp")
    if not (folder / "SOURCE.md").is_file():
        pytest.skip(f"codiesp not found under the data root ({folder})")
    (status,) = [s for s in list_datasets() if s.name == "codiesp"]
    assert status.present and status.n_files == status.n_expected == 12
    assert require_dataset("codiesp") == folder


def test_codiesp_partial_copy_is_not_present(empty_root: Path) -> None:
    (empty_root / "codiesp" / "final_dataset_v4_to_publish" / "train" / "text_files").mkdir(parents=True)
    (status,) = [s for s in list_datasets() if s.name == "codiesp"]
    assert (status.present, status.n_files, status.n_expected) == (False, 1, 12)
    with pytest.raises(DataNotFoundError, match=r"11 of 12 expected files missing \(e\.g\. final_dataset_v4_to_publish/train/trainD\.tsv"):
        require_dataset("codiesp")


def test_codiesp_fetch_unpacks_the_zip_and_resumes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from medrnn.io.codiesp import resolve_root

    body = _codiesp_zip()
    server = _FakePhysioNet({CODIESP_URL: body}, cut={CODIESP_URL: len(body) // 2})  # the first download drops halfway
    monkeypatch.setattr(urllib.request, "urlopen", server)
    dest = tmp_path / "codiesp"
    with pytest.raises(MedrnnError, match=r"codiesp\.zip\?download=1: .*bytes kept in .*codiesp\.zip\.part, the next fetch resumes"):
        fetch_dataset("codiesp", dest)
    assert fetch_dataset("codiesp", dest) == dest
    assert server.requests == [(CODIESP_URL, None), (CODIESP_URL, f"bytes={len(body) // 2}-")]
    release = dest / "final_dataset_v4_to_publish"
    assert (release / "dev" / "devD.tsv").read_text() == "S0001-dev\tr52\n"
    assert (release / "test" / "text_files_en" / "S0001-test.txt").is_file()
    assert sorted(p.name for p in dest.iterdir()) == ["final_dataset_v4_to_publish"]  # the zip is deleted once unpacked
    assert resolve_root(dest) == release
    fetch_dataset("codiesp", dest)
    assert len(server.requests) == 2  # complete: nothing downloaded again
    monkeypatch.setenv("MEDRNN_DATA", str(tmp_path))
    assert require_dataset("codiesp") == dest
    (status,) = [s for s in list_datasets() if s.name == "codiesp"]
    assert status.present


def test_codiesp_fetch_unpacks_a_zip_left_there(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A zip downloaded whole but not unpacked (e.g. interrupted) is unpacked without a download."""
    server = _FakePhysioNet({})
    monkeypatch.setattr(urllib.request, "urlopen", server)
    dest = tmp_path / "codiesp"
    dest.mkdir()
    (dest / "codiesp.zip").write_bytes(_codiesp_zip())
    fetch_dataset("codiesp", dest)
    assert server.requests == [] and not (dest / "codiesp.zip").exists()
    assert (dest / "final_dataset_v4_to_publish" / "train" / "trainX.tsv").is_file()


@pytest.mark.parametrize("member", ["../evil", "final_dataset_v4_to_publish/../../evil", "/tmp/evil", "C:/evil"])
def test_codiesp_fetch_refuses_an_unsafe_zip(member: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = _FakePhysioNet({CODIESP_URL: _codiesp_zip({member: b"pwned"})})
    monkeypatch.setattr(urllib.request, "urlopen", server)
    dest = tmp_path / "sub" / "codiesp"
    with pytest.raises(MedrnnError) as raised:
        fetch_dataset("codiesp", dest)
    message = str(raised.value)
    assert f"unsafe member {member!r} in codiesp.zip" in message and "nothing was unpacked" in message
    assert "codiesp.zip was discarded" in message and "https://zenodo.org/records/3837305 manually" in message
    assert list(dest.iterdir()) == []  # nothing written, the zip discarded
    assert not (tmp_path / "sub" / "evil").exists() and not (tmp_path / "evil").exists()


def test_codiesp_fetch_discards_a_file_that_is_no_zip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(urllib.request, "urlopen", _FakePhysioNet({CODIESP_URL: b"<html>Too many requests</html>"}))
    dest = tmp_path / "codiesp"
    with pytest.raises(MedrnnError, match=r"codiesp\.zip\?download=1: not a valid zip file .*codiesp\.zip was discarded"):
        fetch_dataset("codiesp", dest)
    assert list(dest.iterdir()) == []


def test_codiesp_fetch_offline_names_the_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(url: str, timeout: float) -> None:
        raise urllib.error.URLError(socket.gaierror(-2, "Name or service not known"))

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(MedrnnError) as raised:
        fetch_dataset("codiesp", tmp_path / "codiesp")
    message = str(raised.value)
    assert message.startswith(f"could not reach the download server ({CODIESP_URL}: ") and "Name or service not known" in message
    assert (
        "download https://zenodo.org/records/3837305 manually and point MEDRNN_DATA at its parent (the folder that contains codiesp/)"
        in message
    )
