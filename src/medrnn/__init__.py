"""medrnn: recurrent neural networks for medical sequences, from raw files to diagnoses you can explain."""

__version__ = "0.1.0"
