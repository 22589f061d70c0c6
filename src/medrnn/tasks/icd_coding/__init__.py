"""ICD coding: clinical notes (CodiEsp) -> ICD-10 codes with evidence; the task registers in task.py."""
