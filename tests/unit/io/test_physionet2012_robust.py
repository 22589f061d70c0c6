"""PhysioNet 2012 reader under hostile input: mutated copies of real stay files either read into a valid stay or raise
MedrnnError, nothing else; plus one regression test per hardening (two RecordIDs, impossible times, unknown outcomes, ...)."""

from __future__ import annotations

import gzip
import io
import os
import shutil
import tarfile
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medrnn.testing import Files, byte_mutations, mutate_bytes, write_files
from medrnn import paths
from medrnn.errors import InvalidRecordError, MedrnnError
from medrnn.io.physionet2012 import (
    DESCRIPTOR_LEVELS,
    DESCRIPTOR_RANGES,
    MAX_TIME_MIN,
    OUTCOME_COLUMNS,
    PLAUSIBLE_RANGES,
    VARIABLES,
    Physionet2012Report,
    read_outcomes,
    read_physionet2012,
    read_physionet2012_record,
)
from medrnn.records import IcuStay

RECORDS = ("132539", "132540", "132541")  # three real set-A stays
TOKENS = ["nan", "NaN", "inf", "-inf", "-1", "123", "0", "1e308", "-1e308", "1e400", "9" * 30, "", " ", "60000000:00", "-01:00",
          "48:60", "7:5x", "²", "٣", "00:00", "RecordID", "In-hospital_death", '"', "\x00", "é"]  # fmt: skip
FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
FILE_FUZZ = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def root() -> Path:
    folder = paths.dataset_dir("physionet2012")
    if not all((folder / "set-a" / f"{r}.txt").is_file() for r in RECORDS) or not (folder / "Outcomes-a.txt").is_file():
        pytest.skip(f"PhysioNet 2012 set A not found under {folder}; run `medrnn data fetch physionet2012` or set MEDRNN_DATA")
    return folder


@pytest.fixture(scope="module")
def originals(root: Path) -> dict[str, bytes]:
    """The three stay files and Outcomes-a.txt trimmed to their rows (header kept), as bytes."""
    files = Files({f"set-a/{r}.txt": (root / "set-a" / f"{r}.txt").read_bytes() for r in RECORDS})
    lines = (root / "Outcomes-a.txt").read_bytes().splitlines(keepends=True)
    files["Outcomes-a.txt"] = lines[0] + b"".join(ln for ln in lines[1:] if ln.split(b",")[0].decode() in RECORDS)
    return files


# --- mutations -----------------------------------------------------------------------------------------------------

MUTATIONS = byte_mutations(
    TOKENS,
    st.tuples(st.just("field"), st.floats(0, 1), st.tuples(st.integers(0, 3), st.sampled_from(TOKENS))),
    st.tuples(st.just("dup_line"), st.floats(0, 1), st.just(0)),
)


def mutate(data: bytes, mutation: tuple) -> bytes:
    """One byte- or field-level damage at a relative position of the file."""
    damaged = mutate_bytes(data, mutation)
    if damaged is not None:
        return damaged
    op, where, arg = mutation
    lines = data.split(b"\n")
    i = min(int(where * len(lines)), len(lines) - 1)
    if op == "dup_line":
        return b"\n".join([*lines[: i + 1], lines[i], *lines[i + 1 :]])
    column, token = arg  # "field": one comma-separated field replaced by an extreme or malformed token
    fields = lines[i].split(b",")
    fields[min(column, len(fields) - 1)] = token.encode()
    lines[i] = b",".join(fields)
    return b"\n".join(lines)


def check_stay(stay: IcuStay) -> None:
    """What every returned stay promises: finite times in range, finite in-range values, valid descriptors."""
    assert stay.record_id.isdigit() and int(stay.record_id) > 0
    assert stay.times_min.dtype == np.float64 and stay.values.dtype == np.float64
    assert np.isfinite(stay.times_min).all() and np.isfinite(stay.values).all()
    assert ((stay.times_min >= 0) & (stay.times_min <= MAX_TIME_MIN)).all() and (np.diff(stay.times_min) >= 0).all()
    assert ((stay.variables >= 0) & (stay.variables < len(VARIABLES))).all()
    for v, x in zip(stay.variables, stay.values):
        lo, hi = PLAUSIBLE_RANGES[VARIABLES[v]]
        assert lo <= x <= hi
    for name, value in stay.static.items():
        if not np.isnan(value):
            lo, hi = DESCRIPTOR_RANGES.get(name, (-np.inf, np.inf))
            assert lo <= value <= hi and (name not in DESCRIPTOR_LEVELS or value in DESCRIPTOR_LEVELS[name])
    for column, value in stay.outcome.items():
        assert column in OUTCOME_COLUMNS and (np.isnan(value) or np.isfinite(value))
    if stay.outcome:
        assert stay.outcome["In-hospital_death"] in (0.0, 1.0)


# --- properties ----------------------------------------------------------------------------------------------------


@FUZZ
@given(which=st.sampled_from(RECORDS), mutations=st.lists(MUTATIONS, min_size=1, max_size=3))
def test_mutated_stay_file_reads_valid_or_raises_medrnn_error(originals: dict[str, bytes], which: str, mutations: list) -> None:
    data = originals[f"set-a/{which}.txt"]
    for m in mutations:
        data = mutate(data, m)
    report = Physionet2012Report()
    try:
        stay = read_physionet2012_record(data, source=f"{which}.txt", report=report)
    except MedrnnError:
        return
    check_stay(stay)
    assert report.n_observations == len(stay)


KINDS = st.sampled_from(["bytes", "bytes", "bytes", "empty", "latin1", "dir", "dangling", "loop"])


@FILE_FUZZ
@given(target=st.sampled_from([*(f"set-a/{r}.txt" for r in RECORDS), "Outcomes-a.txt"]), kind=KINDS, mutation=MUTATIONS)
def test_mutated_set_folder_reads_valid_or_raises_medrnn_error(
    originals: dict, tmp_path: Path, target: str, kind: str, mutation: tuple
) -> None:
    folder = write_files(Path(tempfile.mkdtemp(dir=tmp_path)), originals)
    path = folder / target
    if kind == "bytes":
        path.write_bytes(mutate(path.read_bytes(), mutation))
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "latin1":
        path.write_bytes(path.read_bytes().replace(b"\n", "é\n".encode("latin-1"), 1))
    else:
        path.unlink()
        if kind == "dir":
            path.mkdir()
        elif kind == "dangling":
            path.symlink_to(folder / "nowhere.txt")
        else:
            path.symlink_to(path)
    try:
        stays, report = read_physionet2012(folder, sets=("a",), cache=False)
    except MedrnnError:
        return
    for stay in stays:
        check_stay(stay)
    assert len(stays) + len(report.failures) == len(RECORDS) and len({s.record_id for s in stays}) == len(stays)


# --- regressions, one per hardening --------------------------------------------------------------------------------

HEAD = "Time,Parameter,Value\n00:00,RecordID,900001\n00:00,Age,70\n00:00,Gender,1\n00:00,Height,170\n00:00,ICUType,2\n00:00,Weight,80\n"


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("00:05,HR,80\n00:00,RecordID,900002\n", r"lines 2 and 9: field RecordID has 2 different values"),
        ("1000000:00,HR,80\n", r"line 8: field Time is '1000000:00' \(41667 days\), expected at most 30 days"),
        ("720:01,HR,80\n", r"line 8: field Time is '720:01'"),
        ("-01:00,HR,80\n", r"line 8: field Time is '-01:00', expected hh:mm"),
        ("²:00,HR,80\n", r"line 8: field Time is '²:00', expected hh:mm"),
        ("00:05,HR,inf\n", r"line 8: field Value is 'inf', expected a finite number"),
        ("00:05,HR,nan\n", r"line 8: field Value is 'nan', expected a finite number"),
        ("01:00,RecordID,900001\n", r"line 8: field RecordID at 01:00"),
    ],
)
def test_impossible_record_content_is_refused(rows: str, message: str) -> None:
    with pytest.raises(InvalidRecordError, match=message):
        read_physionet2012_record((HEAD + rows).encode(), source="900001.txt")


def test_thirty_days_is_the_last_accepted_time_and_a_repeated_same_record_id_is_counted() -> None:
    report = Physionet2012Report()
    stay = read_physionet2012_record((HEAD + "720:00,HR,80\n00:00,RecordID,900001\n").encode(), source="x", report=report)
    assert stay.times_min.tolist() == [MAX_TIME_MIN] and report.n_repeated_record_id == 1
    with pytest.raises(InvalidRecordError, match="line 2: field RecordID is 0, expected one positive integer"):
        read_physionet2012_record(HEAD.replace("900001", "0").encode(), source="x")


OUTCOMES = "RecordID,SAPS-I,SOFA,Length_of_stay,Survival,In-hospital_death\n900001,10,2,5,-1,0\n900002,12,3,7,-1,1\n"


@pytest.mark.parametrize("death", ["nan", "NaN", "-1", "123", "", "0.5", "inf"])
def test_unknown_in_hospital_death_is_refused_never_read_as_survived(tmp_path: Path, death: str) -> None:
    path = tmp_path / "Outcomes-a.txt"
    path.write_text(OUTCOMES.replace("-1,1\n", f"-1,{death}\n"))
    with pytest.raises(InvalidRecordError, match=r"line 3: In-hospital_death is .*expected 0 or 1"):
        read_outcomes(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (OUTCOMES + "900001,10,2,5,-1,1\n", r"lines 2 and 4: the same RecordID twice"),
        (OUTCOMES.replace("RecordID,", "RecordID,recordid,").replace("\n900001,", "\n900001,1,").replace("\n900002,", "\n900002,2,"),
         r"columns 'RecordID' and 'recordid' are the same column"),
        (OUTCOMES.replace("10,2,5", "10,99,5"), r"line 2: SOFA is '99', expected a number from 0 to 24"),
        (OUTCOMES.replace("10,2,5", "inf,2,5"), r"line 2: SAPS-I is 'inf'"),
        (OUTCOMES.replace("900002", "-5"), r"line 3: RecordID is '-5', expected a positive integer"),
    ],
)  # fmt: skip
def test_outcomes_file_damage_is_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "Outcomes-a.txt"
    path.write_text(text)
    with pytest.raises(InvalidRecordError, match=message):
        read_outcomes(path)
    path.write_bytes(b"RecordID,SAPS-I\n\xff\xfe\n")
    with pytest.raises(InvalidRecordError, match="not a readable UTF-8 CSV"):
        read_outcomes(path)


@pytest.mark.parametrize("kind", ["dir", "dangling", "loop"])
def test_unreadable_stay_file_is_a_reported_failure(originals: dict, tmp_path: Path, kind: str) -> None:
    folder = write_files(tmp_path, originals)
    path = folder / "set-a" / "132540.txt"
    path.unlink()
    {"dir": path.mkdir, "dangling": lambda: path.symlink_to(folder / "gone.txt"), "loop": lambda: path.symlink_to(path)}[kind]()
    stays, report = read_physionet2012(folder, sets=("a",))
    assert [s.record_id for s in stays] == ["132539", "132541"]
    (source, reason), = report.failures.items()  # fmt: skip
    assert source == str(path) and reason.startswith(f"{path}: cannot read the file")
    with pytest.raises(InvalidRecordError, match="cannot read the file"):
        read_physionet2012_record(path)


def test_a_copied_stay_file_is_read_once(originals: dict, tmp_path: Path) -> None:
    folder = write_files(tmp_path, originals)
    shutil.copyfile(folder / "set-a" / "132539.txt", folder / "set-a" / "132539 (copy).txt")
    stays, report = read_physionet2012(folder, sets=("a",), cache=False)
    assert [s.record_id for s in stays] == list(RECORDS) and report.n_records == {"a": 3}
    reason = report.failures[str(folder / "set-a" / "132539.txt")]  # the copy sorts first, so the original is the repeat
    assert "the same stay as" in reason
    single, _ = read_physionet2012(write_files(Path(tempfile.mkdtemp(dir=tmp_path)), originals), sets=("a",), cache=False)
    assert report.n_rows == sum(len(f.splitlines()) - 1 for n, f in originals.items() if n.startswith("set-a")) == _.n_rows


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage"])
def test_damaged_archive_raises_naming_it(originals: dict, tmp_path: Path, damage: str) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tf:
        for r in RECORDS:
            data = originals[f"set-a/{r}.txt"]
            info = tarfile.TarInfo(f"set-a/{r}.txt")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    data = buffer.getvalue()
    data = {"truncate": data[: len(data) // 2], "flip": data[:40] + bytes([data[40] ^ 0xFF]) + data[41:],
            "garbage": gzip.compress(os.urandom(3000))}[damage]  # fmt: skip
    (tmp_path / "set-a.tar.gz").write_bytes(data)
    (tmp_path / "Outcomes-a.txt").write_bytes(originals["Outcomes-a.txt"])
    with pytest.raises(InvalidRecordError, match=r"set-a\.tar\.gz: damaged archive"):
        read_physionet2012(tmp_path, sets=("a",), cache=False)


def test_damaged_cache_is_rebuilt(originals: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDRNN_CACHE", str(tmp_path / "cache"))
    folder = write_files(tmp_path, originals)
    stays, _ = read_physionet2012(folder, sets=("a",))
    (cache,) = (paths.cache_dir() / "physionet2012").glob("a-*.npz")
    cache.write_bytes(cache.read_bytes()[:100])
    again, report = read_physionet2012(folder, sets=("a",))
    assert [s.record_id for s in again] == [s.record_id for s in stays] and report.n_records == {"a": 3}


def test_report_summary_names_no_record(originals: dict, tmp_path: Path) -> None:
    """The summary goes to logs: counts only, never a RecordID (they are in the report's lists, for the run's files)."""
    folder = write_files(tmp_path, originals)
    (folder / "set-a" / "132541.txt").write_bytes(originals["set-a/132541.txt"] + b"00:30,pH,95\n")
    _, report = read_physionet2012(folder, sets=("a",), cache=False)
    assert report.out_of_range and not any(r in report.summary().replace(str(folder), "") for r in RECORDS)
