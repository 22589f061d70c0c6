"""EEG seizure detection (Bonn sets A-E): windows of a segment -> seizure or not; the task registers in task.py."""
