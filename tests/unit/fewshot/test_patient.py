"""Patient adaptation: beats inside the spread of the labelled beats of a class are pulled to it, the others keep the
global posterior; weight 0 is the global model; the support is the first k beats of each record, never a query."""

from __future__ import annotations

import numpy as np

from medrnn.fewshot.patient import PatientItems, adapt, adapt_records


def test_beats_near_the_support_are_pulled_and_far_ones_are_left() -> None:
    rng = np.random.default_rng(0)
    normal = rng.normal(0, 0.1, (20, 4))
    odd = rng.normal(5, 0.1, (5, 4))
    features = np.concatenate([normal, odd])
    features[19] = normal[:10].mean(axis=0)  # a beat right at the labelled normal beats' prototype
    probs = np.tile([0.4, 0.6, 0.0], (25, 1)) + 1e-3  # the global model calls every beat class 1 (a false S)
    probs /= probs.sum(axis=1, keepdims=True)
    support, support_y = np.arange(10), np.zeros(10, dtype=int)  # ten labelled normal beats
    adapted = adapt(probs, features, support, support_y, weight=1.0)
    assert (adapted[10:20, 0] >= probs[10:20, 0] - 1e-9).all()  # this patient's other normal beats: never less normal
    assert adapted[19, 0] > probs[19, 0] + 0.1 and adapted[19].argmax() == 0  # the typical one is now called normal
    np.testing.assert_allclose(adapted[20:], probs[20:], rtol=1e-6)  # beats far from every prototype: unchanged
    np.testing.assert_allclose(adapt(probs, features, support, support_y, weight=0.0), probs, rtol=1e-6)


def test_support_is_the_first_k_beats_of_each_record_in_time() -> None:
    records = np.array(["b", "a", "a", "b", "a", "b", "a"])
    samples = np.array([30, 20, 10, 10, 40, 20, 30])
    order = np.lexsort((samples, records))
    y = np.array([1, 0, 1, 0, 2, 1, 0])
    probs = np.full((7, 3), 1 / 3)
    features = np.arange(7, dtype=float)[:, None]
    parts = adapt_records(PatientItems(y, probs, features, records, order), k=2, weight=0.0)
    assert [p.record for p in parts] == ["a", "b"]
    # record a in time: samples 10 (y 1), 20 (y 0), 30 (y 0), 40 (y 2): queries are the last two, in time order
    assert parts[0].y.tolist() == [0, 2] and parts[1].y.tolist() == [1]
