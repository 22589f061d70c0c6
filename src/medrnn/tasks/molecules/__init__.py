"""Molecules: SMILES -> bioactivity, toxicity and properties (MoleculeNet or a CSV); the task registers in task.py."""
