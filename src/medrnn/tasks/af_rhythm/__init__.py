"""AF rhythm (PhysioNet/CinC Challenge 2017): one short single-lead ECG -> N, A, O or ~; the task registers in task.py."""
