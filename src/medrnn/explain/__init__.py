"""Why the model said it: attributions for every task behind one call (`explain`), faithfulness checks, figures."""

from medrnn.explain.api import ExplainResult, explain
from medrnn.explain.inputs import ExplainInput, Explanation
from medrnn.explain.methods import DEFAULT_METHOD, METHODS

__all__ = ["DEFAULT_METHOD", "METHODS", "ExplainInput", "ExplainResult", "Explanation", "explain"]
