"""Pure numpy transforms, plus fit/transform classes whose fitted state ends in `_`."""

from medrnn.transforms.ecg import RR_FEATURE_NAMES, bandpass, beat_windows, rr_context
from medrnn.transforms.standardize import Standardizer

__all__ = ["RR_FEATURE_NAMES", "Standardizer", "bandpass", "beat_windows", "rr_context"]
