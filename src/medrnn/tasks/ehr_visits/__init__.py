"""EHR visits: MIMIC coded admissions -> mortality, readmission, next diagnoses; the task registers in task.py."""
