"""ICU mortality: PhysioNet 2012 irregular ICU time series -> in-hospital death; the task registers in task.py."""
