"""`medrnn data fetch` for the file-by-file PhysioNet datasets (physionet2012, MIMIC demos) and CodiEsp's Zenodo zip,
against fake servers: resume, size checks, unsafe archives, the offline message."""

from __future__ import annotations

import http.client
import io
import socket
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from medrnn import paths
from medrnn.datasets import DATASETS, list_datasets, require_dataset
from medrnn.download import fetch_dataset
from medrnn.errors import DataNotFoundError, MedrnnError

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
    with pytest.raises(MedrnnError, match=r"1 of \d+ files could not be fetched(.|\n)*hosp/patients\.csv\.gz: downloaded 22 bytes, "
                       r"expected 1083 .*discarded"):  # fmt: skip
        fetch_dataset("mimic4-demo", dest)
    assert (dest / "icu" / "icustays.csv.gz").is_file()  # one bad file does not stop the rest
    assert not (dest / "hosp" / "patients.csv.gz").exists() and not (dest / "hosp" / "patients.csv.gz.part").exists()
    files[bad] = b"x" * 1083
    n_before = len(server.requests)
    assert fetch_dataset("mimic4-demo", dest) == dest
    assert server.requests[n_before:] == [(bad, None)]  # the other files were fetched the first time and kept
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


# --- CinC 2017: PhysioNet's training2017.zip (unpacked as training2017/) and the v3 label file ---

CINC2017 = "https://physionet.org/files/challenge-2017/1.0.0/"


def _cinc2017_zip() -> bytes:
    """A two-record training2017.zip laid out as PhysioNet's: training2017/A00001.hea ... A08528.mat."""
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for rid in ("A00001", "A08528"):
            zf.writestr(f"training2017/{rid}.hea", f"{rid} 1 300 2 05:05:15 1/05/2000\n{rid}.mat 16+24 1000/mV 16 0 0 0 0 ECG\n")
            zf.writestr(f"training2017/{rid}.mat", b"\0" * 28)
        zf.writestr("training2017/REFERENCE.csv", "A00001,N\nA08528,N\n")
    return buffer.getvalue()


def test_cinc2017_catalogue_entry() -> None:
    info = DATASETS["cinc2017"]
    assert "cinc2017" in {s.name for s in list_datasets()}
    assert info.url == "https://physionet.org/content/challenge-2017/1.0.0/" and "ODC-By" in info.licence and "Clifford GD" in info.citation
    assert info.downloads == (("training2017.zip", CINC2017 + "training2017.zip"), ("REFERENCE-v3.csv", CINC2017 + "REFERENCE-v3.csv"))
    assert "REFERENCE-v3.csv" in info.expected_files() and "training2017/A08528.mat" in info.expected_files()


def test_cinc2017_fetch_unpacks_the_zip_and_keeps_v3_labels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = {CINC2017 + "training2017.zip": _cinc2017_zip(), CINC2017 + "REFERENCE-v3.csv": b"A00001,N\nA08528,A\n"}
    server = _FakePhysioNet(files)
    monkeypatch.setattr(urllib.request, "urlopen", server)
    dest = tmp_path / "cinc2017"
    assert fetch_dataset("cinc2017", dest) == dest
    assert sorted(p.name for p in dest.iterdir()) == ["REFERENCE-v3.csv", "training2017"]  # the zip deleted once unpacked
    assert (dest / "training2017" / "A08528.mat").stat().st_size == 28
    fetch_dataset("cinc2017", dest)
    assert len(server.requests) == 2  # complete: nothing downloaded again
    monkeypatch.setenv("MEDRNN_DATA", str(tmp_path))
    assert require_dataset("cinc2017") == dest
    from medrnn.tasks.af_rhythm.data import read_reference, record_folder, reference_path

    assert record_folder("cinc2017") == dest / "training2017"
    assert reference_path("cinc2017") == dest / "REFERENCE-v3.csv"  # v3, not the zip's older REFERENCE.csv
    assert read_reference(reference_path("cinc2017")) == {"A00001": 0, "A08528": 1}


def test_cinc2017_fetch_offline_names_the_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(url: str, timeout: float) -> None:
        raise urllib.error.URLError(socket.gaierror(-2, "Name or service not known"))

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(MedrnnError) as raised:
        fetch_dataset("cinc2017", tmp_path / "cinc2017")
    message = str(raised.value)
    assert message.startswith(f"could not reach PhysioNet ({CINC2017}training2017.zip: ") and "Name or service not known" in message
    assert "download https://physionet.org/content/challenge-2017/1.0.0/ manually and point MEDRNN_DATA at its parent" in message
    assert list((tmp_path / "cinc2017").glob("*.zip")) == []
