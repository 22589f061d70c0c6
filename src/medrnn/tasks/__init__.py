"""Tasks: records -> labelled samples, with their inputs, outputs and split unit declared."""

from medrnn.tasks.beats import AAMI_CLASSES, AAMI_MAP, BeatSet, aami_label, extract_beats

__all__ = ["AAMI_CLASSES", "AAMI_MAP", "BeatSet", "aami_label", "extract_beats"]
