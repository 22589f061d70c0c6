"""Scores of coded-visit samples (multi-hot visits, padded by collate) and RETAIN's exact per-code explanations."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from medrnn.data.batch import SequenceDataset, collate
from medrnn.data.inference import predict_sigmoid  # noqa: F401  (this world's scoring)
from medrnn.tasks.ehr_visits.pipeline import VisitPipeline
from medrnn.tasks.ehr_visits.targets import EhrSampleSet


def visit_dataset(samples: EhrSampleSet, pipeline: VisitPipeline, labelled: bool = True) -> SequenceDataset:
    """Samples as multi-hot visits (n_visits, vocab) with their labels (zeros when `labelled` is False); collate pads."""
    y = pipeline.labels(samples) if labelled else np.zeros((len(samples), len(pipeline.label_names)), dtype=np.float32)
    return SequenceDataset([torch.from_numpy(x) for x in pipeline.inputs(samples)], y)


def explain_retain(model: nn.Module, samples: EhrSampleSet, pipeline: VisitPipeline, n_samples: int = 20,
                   n_codes: int = 10) -> list[dict[str, Any]]:  # fmt: skip
    """RETAIN's exact decomposition for the first samples: visit weights α and the codes that moved output 0
    (the target, or the first label code of next_visit_diagnosis) most."""
    model.eval()
    first = EhrSampleSet(samples.samples[:n_samples])
    if not len(first):
        return []
    dataset = visit_dataset(first, pipeline, labelled=False)
    batch = collate([dataset[i] for i in range(len(dataset))])
    device = next(model.parameters()).device
    with torch.no_grad():
        result = model.explain(batch.to(device))
    contrib = result.contributions[..., 0].cpu().numpy()  # (batch, visits, codes) toward the first output
    codes_ = pipeline.vocab.codes_
    out: list[dict[str, Any]] = []
    for b in range(contrib.shape[0]):
        n_visits = int(batch.lengths[b])
        flat = [(abs(float(contrib[b, v, c])), v, c) for v in range(n_visits) for c in np.flatnonzero(contrib[b, v])]
        top = sorted(flat, reverse=True)[:n_codes]
        codes = [{"visit": v, "code": codes_[c], "contribution": float(contrib[b, v, c])} for _, v, c in top]
        out.append({"sample_id": first.samples[b].sample_id, "output": str(pipeline.label_names[0]), "logit": float(result.logits[b, 0]),
                    "visit_attention": result.attention[b, :n_visits].cpu().tolist(), "top_codes": codes})  # fmt: skip
    return out
