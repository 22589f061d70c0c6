"""`medrnn federate`: bad requests are refused before any data is read or folder made; site partitions of the tasks."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("flwr", reason="the federated extra is not installed: pip install 'medrnn[federated]'")

from medrnn.cli.main import main  # noqa: E402
from medrnn.records import IcuStay  # noqa: E402
from medrnn.tasks.base import TaskData, get_task  # noqa: E402


def test_a_task_without_sites_and_an_unknown_partition_are_refused(tmp_path, capsys):
    assert main(["federate", "smiles", "--quick", "--out", str(tmp_path / "a")]) == 2
    assert "declares no site partition" in capsys.readouterr().err
    assert main(["federate", "icu", "--quick", "--sites", "ward", "--out", str(tmp_path / "b")]) == 2
    assert "no site partition 'ward'; available: icutype" in capsys.readouterr().err
    assert main(["federate", "icu", "--quick", "--strategy", "fedsgd", "--out", str(tmp_path / "c")]) == 2
    assert main(["federate", "icu", "--quick", "--dp-epsilon", "0", "--out", str(tmp_path / "d")]) == 2
    assert "--dp-epsilon 0.0: input should be greater than 0" in capsys.readouterr().err
    assert main(["federate", "icu", "--quick", "--dp-max-grad-norm", "-1", "--out", str(tmp_path / "e")]) == 2
    assert "--dp-max-grad-norm -1.0" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_site_partitions_of_icu_and_ecg():
    icu = get_task("icu")
    stays = [IcuStay.__new__(IcuStay) for _ in range(3)]
    for stay, code, rid in zip(stays, (1.0, 4.0, 2.0), ("1", "2", "3")):
        object.__setattr__(stay, "static", {"ICUType": code})
        object.__setattr__(stay, "record_id", rid)
    data = TaskData(type("S", (), {"stays": stays})(), np.array(["1", "2", "3"]), ["1", "2", "3"])
    assert icu.site_partitions["icutype"](data).tolist() == ["CCU", "SICU", "CSRU"]
    ecg = get_task("mitdb")
    samples = type("B", (), {"beats": type("R", (), {"record": np.array(["101", "101", "106"])})()})()
    beats = TaskData(samples, np.array(["a"] * 3), ["a"] * 3)
    assert ecg.site_partitions["record"](beats).tolist() == ["101", "101", "106"]
