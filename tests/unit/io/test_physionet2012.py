"""PhysioNet 2012 reader: real counts from SOURCE.md, descriptors by name, every dropped value counted, bad files named."""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest

from medrnn import paths
from medrnn.errors import DataNotFoundError, InvalidRecordError
from medrnn.io.physionet2012 import (
    DESCRIPTORS,
    VARIABLES,
    Physionet2012Report,
    read_physionet2012,
    read_physionet2012_record,
)
from medrnn.records import IcuStay


@pytest.fixture(scope="module")
def root() -> Path:
    """The physionet2012 folder under the data root; skip with the reason when it is absent."""
    folder = paths.dataset_dir("physionet2012")
    if not (folder / "Outcomes-a.txt").exists() or not (folder / "set-a").is_dir():
        pytest.skip(f"PhysioNet 2012 not found under {folder}; run `medrnn data fetch physionet2012` or set MEDRNN_DATA")
    return folder


@pytest.fixture(scope="module")
def set_a(root: Path) -> tuple[list[IcuStay], Physionet2012Report]:
    """All 4,000 stays of set A, read once per module (cache off: module fixtures run outside the cache isolation)."""
    return read_physionet2012(root, sets=("a",), cache=False)


def _member(archive: Path, name: str) -> bytes:
    """Bytes of one member of a tar archive, read in memory (the data folder stays untouched)."""
    with tarfile.open(archive, "r:xz") as tf:
        for member in tf:  # stream up to the member: getmember() would decompress the whole archive first
            if member.name == name:
                return tf.extractfile(member).read()  # type: ignore[union-attr]
    raise FileNotFoundError(f"{name} not in {archive}")


def _obs(stay: IcuStay, variable: str) -> list[tuple[float, float]]:
    """(minute, value) pairs of one variable in a stay."""
    j = stay.variable_names.index(variable)
    return [(float(t), float(x)) for t, v, x in zip(stay.times_min, stay.variables, stay.values) if v == j]


def test_set_a_counts_match_source_md(set_a: tuple[list[IcuStay], Physionet2012Report]) -> None:
    stays, report = set_a
    assert len(stays) == 4000 and report.n_records == {"a": 4000} and not report.failures
    assert report.n_rows == 1_757_980  # rows excluding headers, as SOURCE.md
    assert sum(s.outcome["In-hospital_death"] for s in stays) == 554 and not report.missing_outcomes
    icu = np.array([s.static["ICUType"] for s in stays])
    # counted with `grep -h ,ICUType, set-a/*.txt | sort | uniq -c`; SOURCE.md's 573/870/1,464/1,053 sum to 3,960, not 4,000
    assert [int((icu == k).sum()) for k in (1, 2, 3, 4)] == [577, 874, 1481, 1068]
    ages = np.array([s.static["Age"] for s in stays])
    assert ages.min() >= 15 and ages.max() <= 90 and set(stays[0].static) == set(DESCRIPTORS)
    # every one of the 37 variables occurs in set A, and nothing else does
    assert set(np.unique(np.concatenate([s.variables for s in stays]))) == set(range(len(VARIABLES)))
    assert not report.unknown_parameters and report.n_empty_parameter == 0


def test_set_a_records_with_descriptors_only(set_a: tuple[list[IcuStay], Physionet2012Report]) -> None:
    stays, report = set_a
    assert report.no_time_series == ["140501", "140936", "141264"]
    by_id = {s.record_id: s for s in stays}
    for rid in report.no_time_series:
        stay = by_id[rid]
        assert len(stay) == 0 and stay.static["ICUType"] == 3 and np.isnan(stay.static["Height"])  # Height -1 -> NaN
        assert stay.outcome["In-hospital_death"] in (0.0, 1.0)


def test_set_a_every_row_is_accounted_for(set_a: tuple[list[IcuStay], Physionet2012Report]) -> None:
    """Nothing is dropped silently: kept + counted-as-dropped + descriptor rows = rows in the files."""
    stays, report = set_a
    series = lambda c: sum(n for k, n in c.items() if not k.endswith("(descriptor)"))  # noqa: E731
    dropped = series(report.n_missing_marker) + series(report.n_out_of_range)
    descriptor_rows = 6 * len(stays)  # RecordID, Age, Gender, Height, ICUType, Weight
    assert report.n_observations == sum(len(s) for s in stays)
    assert report.n_rows == report.n_observations + dropped + descriptor_rows + report.n_empty_parameter
    assert dropped > 0 and report.n_missing_marker["Height (descriptor)"] > 1000
    # a known entry error: 133473 has pH 95 at 36:39 (an SaO2 value); it is listed, counted and not in the stay
    listed = [(o.record_id, o.time_min, o.variable, o.value) for o in report.out_of_range]
    assert ("133473", 36 * 60 + 39.0, "pH", 95.0) in listed and report.n_out_of_range["pH"] >= 1
    stay = next(s for s in stays if s.record_id == "133473")
    assert all(6.5 <= x <= 8.0 for _, x in _obs(stay, "pH"))
    assert report.n_duplicate_time["MAP"] > 0


def test_record_from_set_c_archive_skips_and_counts_empty_parameters(root: Path) -> None:
    data = _member(root / "set-c.tar.xz", "set-c/152871.txt")  # has `10:45,,1.9` and `33:29,,1.7`
    report = Physionet2012Report()
    stay = read_physionet2012_record(data, source="set-c.tar.xz:set-c/152871.txt", report=report)
    assert stay.record_id == "152871" and stay.source.endswith("152871.txt") and len(stay) > 100
    assert report.n_empty_parameter == 2
    dropped = sum(n for k, n in (report.n_missing_marker + report.n_out_of_range).items() if "descriptor" not in k)
    assert report.n_observations == len(stay) and report.n_rows == len(stay) + dropped + 6 + 2  # 6 descriptor rows, 2 empty
    assert np.all(np.diff(stay.times_min) >= 0) and stay.values.dtype == np.float64


def test_descriptors_are_read_by_name_not_position(root: Path) -> None:
    # 132548: HR, NIDiasABP, ... at 00:00 sort between Height and ICUType
    stay = read_physionet2012_record(root / "set-a" / "132548.txt")
    assert stay.static == {"Age": 68.0, "Gender": 0.0, "Height": 162.6, "ICUType": 3.0, "Weight": 87.0}
    assert (0.0, 73.0) in _obs(stay, "HR") and _obs(stay, "Weight")[0][0] > 0  # the 00:00 Weight is the descriptor only
    # 149509 (set B) has two 00:00 Weight rows: the first is the descriptor, the second a measurement
    twice = read_physionet2012_record(_member(root / "set-b.tar.xz", "set-b/149509.txt"), source="149509")
    assert twice.static["Weight"] == 70.8 and _obs(twice, "Weight")[0] == (0.0, 70.4)


def _write(path: Path, rows: list[str], record_id: str = "900001") -> Path:
    """A challenge-format file with the six descriptors and the given rows."""
    head = ["Time,Parameter,Value", f"00:00,RecordID,{record_id}", "00:00,Age,70", "00:00,Gender,-1", "00:00,Height,0",
            "00:00,ICUType,2", "00:00,Weight,80"]  # fmt: skip
    path.write_text("\n".join(head + rows) + "\n")
    return path


def test_missing_and_out_of_range_values_are_counted_not_dropped_silently(tmp_path: Path) -> None:
    rows = ["00:10,HR,-1", "00:10,HR,0", "00:20,HR,80", "00:20,HR,82", "01:00,pH,735", "01:00,pH,7.31", "02:00,Temp,-17.8",
            "03:00,Foo,1", "03:00,,2", "03:30,Weight,0"]  # fmt: skip
    report = Physionet2012Report()
    stay = read_physionet2012_record(_write(tmp_path / "900001.txt", rows), report=report)
    assert _obs(stay, "HR") == [(20.0, 80.0), (20.0, 82.0)] and _obs(stay, "pH") == [(60.0, 7.31)] and not _obs(stay, "Temp")
    assert report.n_missing_marker == {"HR": 1, "Gender (descriptor)": 1}
    assert report.n_out_of_range == {"HR": 1, "pH": 1, "Temp": 1, "Weight": 1, "Height (descriptor)": 1}
    listed = [(o.time_min, o.variable, o.value) for o in report.out_of_range]
    assert listed == [(0, "Height (descriptor)", 0), (10, "HR", 0), (60, "pH", 735), (120, "Temp", -17.8), (210, "Weight", 0)]
    assert report.n_duplicate_time == {"HR": 1} and report.unknown_parameters == {"Foo": 1} and report.n_empty_parameter == 1
    assert np.isnan(stay.static["Gender"]) and np.isnan(stay.static["Height"]) and stay.static["Weight"] == 80.0
    assert report.to_dict()["unknown_parameters"] == {"Foo": 1} and "1 unknown parameters" in report.summary()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("00:00,RecordID,900002\n00:05,HR,abc\n", r"bad\.txt, line 3: field Value is 'abc'"),
        ("00:00,RecordID,900002\n7:5x,HR,80\n", r"bad\.txt, line 3: field Time is '7:5x', expected hh:mm"),
        ("00:00,RecordID,900002\n00:05,HR\n", r"bad\.txt, line 3: 2 fields"),
        ("00:05,HR,80\n", r"bad\.txt: field RecordID: no RecordID row"),
    ],
)
def test_malformed_file_raises_naming_file_line_and_field(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "bad.txt"
    path.write_text("Time,Parameter,Value\n" + body)
    with pytest.raises(InvalidRecordError, match=message):
        read_physionet2012_record(path)


def test_file_without_header_raises(tmp_path: Path) -> None:
    path = tmp_path / "noheader.txt"
    path.write_text("00:00,RecordID,1\n")
    with pytest.raises(InvalidRecordError, match=r"noheader\.txt, line 1: header is '00:00,RecordID,1'"):
        read_physionet2012_record(path)


def _small_root(root: Path, tmp_path: Path) -> Path:
    """A copy of two real set-A files, one corrupt file and Outcomes-a.txt in tmp_path."""
    dest = tmp_path / "p12"
    (dest / "set-a").mkdir(parents=True)
    for rid in ("132539", "132540"):
        shutil.copyfile(root / "set-a" / f"{rid}.txt", dest / "set-a" / f"{rid}.txt")
    (dest / "set-a" / "132541.txt").write_text("Time,Parameter,Value\n00:00,RecordID,132541\n00:07,HR,7O\n")
    shutil.copyfile(root / "Outcomes-a.txt", dest / "Outcomes-a.txt")
    return dest


def test_batch_read_collects_a_corrupt_file_and_carries_on(root: Path, tmp_path: Path) -> None:
    small = _small_root(root, tmp_path)
    stays, report = read_physionet2012(small, sets=("a",))
    assert [s.record_id for s in stays] == ["132539", "132540"] and report.n_records == {"a": 2}
    (source, reason), = report.failures.items()  # fmt: skip
    assert source.endswith("132541.txt") and "line 3: field Value is '7O'" in reason
    assert stays[0].outcome == {"SAPS-I": 6.0, "SOFA": 1.0, "Length_of_stay": 5.0, "Survival": -1.0, "In-hospital_death": 0.0}
    again, report2 = read_physionet2012(small, sets=("a",))  # from the cache, which lives outside the data folder
    assert report2.to_dict() == report.to_dict() and np.array_equal(again[1].values, stays[1].values)
    assert again[1].static == stays[1].static and again[1].outcome == stays[1].outcome
    assert sorted(p.name for p in (small / "set-a").iterdir()) == ["132539.txt", "132540.txt", "132541.txt"]
    assert any((paths.cache_dir() / "physionet2012").glob("a-*.npz"))


def test_missing_set_or_outcomes_says_where_it_looked(root: Path, tmp_path: Path) -> None:
    small = _small_root(root, tmp_path)
    with pytest.raises(DataNotFoundError, match=r"set B not found: looked for .*set-b.*medrnn data fetch physionet2012"):
        read_physionet2012(small, sets=("a", "b"))
    (small / "Outcomes-a.txt").unlink()
    with pytest.raises(DataNotFoundError, match=r"looked for .*Outcomes-a\.txt.*medrnn data fetch physionet2012"):
        read_physionet2012(small, sets=("a",))


@pytest.mark.parametrize("leading_folder", [True, False], ids=["set-a/ inside (PhysioNet's)", "flat"])
def test_set_read_from_a_tar_gz_archive(root: Path, tmp_path: Path, leading_folder: bool) -> None:
    """PhysioNet publishes set-a.tar.gz holding set-a/NNNNNN.txt; a flat archive of the same files reads the same."""
    dest = tmp_path / "p12gz"
    dest.mkdir()
    rids = ("132539", "132540", "132541")
    with tarfile.open(dest / "set-a.tar.gz", "w:gz") as tf:
        for rid in rids:
            tf.add(root / "set-a" / f"{rid}.txt", arcname=f"set-a/{rid}.txt" if leading_folder else f"{rid}.txt")
    shutil.copyfile(root / "Outcomes-a.txt", dest / "Outcomes-a.txt")
    stays, report = read_physionet2012(dest, sets=("a",), cache=False)
    assert [s.record_id for s in stays] == list(rids) and report.n_records == {"a": 3} and not report.failures
    assert stays[0].source == f"{dest / 'set-a.tar.gz'}:{'set-a/' if leading_folder else ''}132539.txt"
    folder, _ = read_physionet2012(_small_root(root, tmp_path), sets=("a",), cache=False)
    assert np.array_equal(stays[0].values, folder[0].values) and stays[1].static == folder[1].static
    assert sorted(p.name for p in dest.iterdir()) == ["Outcomes-a.txt", "set-a.tar.gz"]  # nothing unpacked beside it


def test_missing_set_lists_the_three_accepted_forms(root: Path, tmp_path: Path) -> None:
    small = _small_root(root, tmp_path)
    with pytest.raises(DataNotFoundError) as info:
        read_physionet2012(small, sets=("b",))
    message = str(info.value)
    for form in (f"{small / 'set-b'}/ (a folder of NNNNNN.txt files)", str(small / "set-b.tar.gz"), str(small / "set-b.tar.xz")):
        assert form in message
