"""AdrenalMNIST3D (MedMNIST v2): 28^3 adrenal shape masks -> normal vs mass, official split; registers in task.py."""
