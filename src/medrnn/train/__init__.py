"""Training on Lightning: the LightningModule, class weights, samplers, seeding and the fit loop."""

from medrnn.train.fit import FitResult, class_weights, fit_classifier
from medrnn.train.module import ClassifierModule

__all__ = ["ClassifierModule", "FitResult", "class_weights", "fit_classifier"]
