"""ECG beats (MIT-BIH inter-patient): beats of a record -> AAMI classes; the task registers in task.py."""
