"""Federated sites of PhysioNet 2012: the ICU unit a stay was admitted to (its ICUType descriptor).

Four units of different case mix: CCU (coronary care), CSRU (cardiac surgery recovery), MICU (medical), SICU (surgical).
"""

from __future__ import annotations

import numpy as np

from medrnn.errors import InvalidRecordError
from medrnn.tasks.base import TaskData
from medrnn.transforms.irregular import ICU_TYPES


def icu_type_sites(data: TaskData) -> np.ndarray:
    """(n,) str: the ICU unit of every stay (CCU, CSRU, MICU, SICU); a stay without a valid ICUType is an error naming it."""
    sites = []
    for stay in data.samples.stays:
        code = float(stay.static.get("ICUType", np.nan))
        if code not in ICU_TYPES:
            known = ", ".join(f"{int(k)} ({v})" for k, v in ICU_TYPES.items())
            raise InvalidRecordError(f"RecordID {stay.record_id}: ICUType {code}; expected one of {known} to assign the stay to a site")
        sites.append(ICU_TYPES[code])
    return np.array(sites, dtype=str)


SITE_PARTITIONS = {"icutype": icu_type_sites}
