"""Readers: file -> Record. No torch here; each reader validates and raises InvalidRecordError."""

from medrnn.io.wfdb import read_wfdb

__all__ = ["read_wfdb"]
