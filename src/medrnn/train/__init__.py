"""Training on Lightning: the one run loop (run.py), the one LightningModule (task_module.py), losses, the fit loop."""

from medrnn.train.fit import FitResult, fit_module

__all__ = ["FitResult", "fit_module"]
