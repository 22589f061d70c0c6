"""Tasks: one folder per data world (ecg_beats, molecules, icu_mortality, ehr_visits, icd_coding, lidc_nodules, ...),
each registered in `TASKS` through the contract of `tasks/base.py`; `get_task(name)` finds one by name or CLI alias."""
