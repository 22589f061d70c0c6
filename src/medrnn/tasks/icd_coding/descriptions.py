"""Codes no training note carries, ranked from their code-book titles (zero-shot), in calibrated probabilities.

A trained coder can only score its label set; on CodiEsp-D test 17.5 % of gold (note, code) pairs use codes absent from
the training notes. Their titles are public (`io.icd_descriptions`), so each such code is matched against the note:

    stems(title)    Snowball stems of the title's words (accents folded, stop words out), e.g. "neoplasia maligna de
                    colon" -> {neoplasi, malign, colon}
    coverage        sum of idf(stem) over the title's stems found in the note / sum over all its stems, idf from the
                    training notes (a title stem no training note holds gets the highest idf)
    candidates      codes with coverage >= min_coverage (an inverted index from stem to codes)
    features        coverage, every stem found, share of the title's adjacent stem pairs adjacent in the note, log stems
                    in the title, code depth, log training pairs of the code's 3-character category and of its parent,
                    and what the trained coder says of its relatives: the highest probability it gives a label of the same
                    category, and of the same parent (a code unseen in training is often a sibling of a seen one)
    probability     logistic regression on those features, fitted on the dev notes with the coder's dev probabilities:
                    candidates outside the label set, positive when the code is a dev gold code (the dev notes' own
                    unseen codes; test is never read). An ensemble refits it on the mean of its members.

The probability is that of a code outside the label set being gold, so it ranks beside the model's own probabilities.
Why by hand: no maintained library ranks ICD titles against free text; the parts it needs (Snowball stemmers,
scikit-learn's logistic regression) are libraries. Why lexical and not the model's embeddings: the words that name rare
codes are the rare words the privacy rule (`data.min_doc_freq`) keeps out of the vocabulary.

Privacy: the idf table holds only words of the public titles, never a word of a note outside them.
"""

from __future__ import annotations

import dataclasses
import math
import re
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from medrnn.errors import ConfigError
from medrnn.io.icd_descriptions import catalogue_language, read_code_descriptions

FEATURES = ("coverage", "all_found", "adjacent_pairs", "log_title_stems", "depth", "log_category_pairs", "log_parent_pairs",
            "category_probability", "parent_probability")
STOP_WORDS: dict[str, frozenset[str]] = {
    "es": frozenset("a al como con de del e el en entre es la las lo los no o otra otras otro otros para por que se sin su sus "
                    "tipo u un una y".split()),
    "en": frozenset("a an and as at by due for from in into is not of on or other the to type with without".split()),
}  # fmt: skip
_STEMMERS = {"es": "spanish", "en": "english"}
_WORD = re.compile(r"\w+")


class TitleStemmer:
    """Words -> Snowball stems, accents folded and stop words dropped; keeps each word's character span."""

    def __init__(self, language: str) -> None:
        import snowballstemmer

        if language not in _STEMMERS:
            raise ConfigError(f"code descriptions: language {language!r}, expected one of {list(_STEMMERS)}")
        self.language = language
        self._stemmer = snowballstemmer.stemmer(_STEMMERS[language])
        self._stop = STOP_WORDS[language]
        self._cache: dict[str, str | None] = {}

    def _stem(self, word: str) -> str | None:
        if word not in self._cache:
            folded = "".join(c for c in unicodedata.normalize("NFKD", word.lower()) if not unicodedata.combining(c))
            keep = len(folded) > 1 and folded not in self._stop and not folded.isdigit()
            self._cache[word] = self._stemmer.stemWord(folded) if keep else None
        return self._cache[word]

    def spans(self, text: str) -> list[tuple[str, int, int]]:
        """(stem, start, end) of every content word of `text`, in order."""
        out = []
        for m in _WORD.finditer(text):
            stem = self._stem(m.group())
            if stem is not None:
                out.append((stem, m.start(), m.end()))
        return out

    def stems(self, text: str) -> list[str]:
        """The distinct stems of `text`, in order of first occurrence."""
        return list(dict.fromkeys(s for s, _, _ in self.spans(text)))


@dataclass
class DescribedScores:
    """Per note, the top-k codes outside the label set: index into `DescriptionRanker.codes` (-1 = none), probability,
    and the character span of the note word that matched the title's rarest stem (the evidence)."""

    code: np.ndarray  # (notes, k) int32
    probability: np.ndarray  # (notes, k) float32, 0 where code == -1
    start: np.ndarray  # (notes, k) int32
    end: np.ndarray  # (notes, k) int32


@dataclass
class DescriptionRanker:
    """Fitted title matcher and its dev calibration (see the module docstring); JSON-safe state for the artifact."""

    catalogue: str
    codes: list[str]  # catalogue codes outside the label set that have a content word in their title
    titles: list[list[str]]  # their title stems
    idf: dict[str, float]  # title stem -> idf over the training notes
    category_pairs: dict[str, int]  # code prefix (3 characters, and the parent code) -> training gold pairs
    label_names: list[str]  # the coder's labels, whose probabilities the relatives' features read
    min_coverage: float = 0.5
    top_k: int = 20
    coef: list[float] | None = None
    intercept: float | None = None
    calibration: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.language = catalogue_language(self.catalogue)
        self._stemmer = TitleStemmer(self.language)
        index: dict[str, list[int]] = defaultdict(list)
        for i, stems in enumerate(self.titles):
            for s in stems:
                index[s].append(i)
        self._index = dict(index)
        self._weight = np.array([sum(self.idf[s] for s in stems) for stems in self.titles])
        relatives: dict[str, list[int]] = defaultdict(list)
        for j, name in enumerate(self.label_names):
            for prefix in dict.fromkeys(_prefixes(name)):
                relatives[prefix].append(j)
        self._relatives = {k: np.array(v, dtype=np.int64) for k, v in relatives.items()}

    # ---- fitting -----------------------------------------------------------------------------------------------
    @classmethod
    def fit(cls, catalogue: str, train_texts: list[str], label_names: list[str], label_counts: np.ndarray,
            min_coverage: float = 0.5, top_k: int = 20) -> DescriptionRanker:  # fmt: skip
        """Titles of the catalogue's codes outside the label set; idf of their stems over the training notes."""
        stemmer = TitleStemmer(catalogue_language(catalogue))
        known = set(label_names)
        codes, titles = [], []
        for code, title in read_code_descriptions(catalogue).items():
            stems = stemmer.stems(title)
            if code not in known and stems:
                codes.append(code)
                titles.append(stems)
        vocabulary = {s for stems in titles for s in stems}
        df = Counter(s for text in train_texts for s in set(stemmer.stems(text)) & vocabulary)
        n = len(train_texts)
        idf = {s: math.log((n + 1) / (df.get(s, 0) + 1)) + 1.0 for s in sorted(vocabulary)}
        pairs: Counter[str] = Counter()
        for name, count in zip(label_names, np.asarray(label_counts).tolist()):
            for prefix in dict.fromkeys(_prefixes(name)):
                pairs[prefix] += int(count)
        return cls(catalogue, codes, titles, idf, dict(pairs), list(label_names), min_coverage, top_k)

    def calibrate(self, texts: list[str], gold: list[set[str]], probs: np.ndarray) -> dict[str, Any]:
        """Logistic regression of 'gold' on the features of every candidate of the dev notes (codes outside the label set),
        `probs` the coder's (notes, labels) probabilities of those notes."""
        from sklearn.linear_model import LogisticRegression

        rows, labels = [], []
        for text, codes, row in zip(texts, gold, self._check(probs, len(texts))):
            index, x, _ = self.candidates(text, row)
            rows.append(x)
            labels.extend(self.codes[i] in codes for i in index)
        x, y = np.concatenate(rows) if rows else np.zeros((0, len(FEATURES))), np.array(labels, dtype=bool)
        described = set(self.codes)
        reachable = sum(len(codes & described) for codes in gold)
        self.calibration = {"on": "dev", "notes": len(texts), "candidate_pairs": int(len(y)), "positive_pairs": int(y.sum()),
                            "gold_pairs_outside_label_set_with_title": int(reachable), "features": list(FEATURES)}  # fmt: skip
        if y.sum() < 2 or y.all():  # nothing to fit: the ranker stays off (describe gives None), and says why
            self.coef = self.intercept = None
            self.calibration["calibrated"] = False
            self.calibration["why_not"] = (f"{int(y.sum())} of {len(y)} dev candidates are gold; calibrating needs at least two "
                                           "gold and one non-gold candidate (more dev notes)")  # fmt: skip
            return dict(self.calibration)
        model = LogisticRegression(C=1.0, max_iter=2000).fit(x, y)
        self.calibration["calibrated"] = True
        self.coef, self.intercept = model.coef_[0].tolist(), float(model.intercept_[0])
        self.calibration["coefficients"] = dict(zip(FEATURES, (round(c, 4) for c in self.coef)))
        return dict(self.calibration)

    # ---- scoring -----------------------------------------------------------------------------------------------
    def _check(self, probs: np.ndarray, n: int) -> np.ndarray:
        probs = np.asarray(probs, dtype=np.float64)
        if probs.shape != (n, len(self.label_names)):
            raise ConfigError(f"code descriptions: probabilities of shape {probs.shape}, expected ({n}, {len(self.label_names)}) "
                              "(one row per note, one column per label of the coder)")  # fmt: skip
        return probs

    def candidates(self, text: str, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Candidate codes of one note (`probs`: the coder's probability of each label for it): their indices, features
        (n, len(FEATURES)) and evidence spans (n, 2)."""
        spans = self._stemmer.spans(text)
        where: dict[str, tuple[int, int]] = {}
        for stem, start, end in spans:
            where.setdefault(stem, (start, end))
        adjacent = {(a[0], b[0]) for a, b in zip(spans, spans[1:])}
        found: dict[int, float] = defaultdict(float)
        for stem in where:
            w = self.idf.get(stem)
            for i in self._index.get(stem, ()):
                found[i] += w  # type: ignore[operator]
        index, feats, ev = [], [], []
        for i, hit in found.items():
            coverage = hit / self._weight[i]
            if coverage < self.min_coverage:
                continue
            stems = self.titles[i]
            pairs = list(zip(stems, stems[1:]))
            code = self.codes[i]
            rarest = max((s for s in stems if s in where), key=lambda s: self.idf[s])
            index.append(i)
            feats.append([coverage, float(coverage > 0.999), sum(p in adjacent for p in pairs) / len(pairs) if pairs else 1.0,
                          math.log(len(stems)), float(len(code.replace(".", ""))),
                          *(math.log1p(self.category_pairs.get(p, 0)) for p in _prefixes(code)),
                          *(float(probs[self._relatives[p]].max()) if p in self._relatives else 0.0 for p in _prefixes(code))])  # fmt: skip
            ev.append(where[rarest])
        return (np.array(index, dtype=np.int64), np.array(feats, dtype=np.float64).reshape(-1, len(FEATURES)),
                np.array(ev, dtype=np.int64).reshape(-1, 2))  # fmt: skip

    def score(self, texts: list[str], probs: np.ndarray) -> DescribedScores:
        """The `top_k` most probable codes outside the label set for each note (`probs`: the coder's, notes x labels)."""
        if self.coef is None:
            raise ConfigError("code descriptions: the ranker is not calibrated (DescriptionRanker.calibrate on dev notes)")
        k = self.top_k
        out = DescribedScores(np.full((len(texts), k), -1, np.int32), np.zeros((len(texts), k), np.float32),
                              np.zeros((len(texts), k), np.int32), np.zeros((len(texts), k), np.int32))  # fmt: skip
        w, b = np.asarray(self.coef), float(self.intercept or 0.0)
        for row, (text, label_probs) in enumerate(zip(texts, self._check(probs, len(texts)))):
            index, x, ev = self.candidates(text, label_probs)
            if not len(index):
                continue
            p = 1.0 / (1.0 + np.exp(-(x @ w + b)))
            top = np.argsort(-p, kind="stable")[:k]
            n = len(top)
            out.code[row, :n], out.probability[row, :n] = index[top], p[top]
            out.start[row, :n], out.end[row, :n] = ev[top, 0], ev[top, 1]
        return out

    # ---- state -------------------------------------------------------------------------------------------------
    def calibration_state(self) -> dict[str, Any]:
        """What `calibrate` fitted (an ensemble stores its own beside its members)."""
        return {"coef": self.coef, "intercept": self.intercept, "calibration": self.calibration}

    def with_calibration(self, state: dict[str, Any]) -> DescriptionRanker:
        """A copy of this ranker with another calibration (the members' rankers stay as they were)."""
        return dataclasses.replace(self, coef=state.get("coef"), intercept=state.get("intercept"),
                                   calibration=dict(state.get("calibration") or {}))  # fmt: skip

    def state_dict(self) -> dict[str, Any]:
        return {"catalogue": self.catalogue, "codes": self.codes, "titles": [" ".join(t) for t in self.titles],
                "idf": self.idf, "category_pairs": self.category_pairs, "label_names": self.label_names, "min_coverage": self.min_coverage,
                "top_k": self.top_k, "coef": self.coef, "intercept": self.intercept, "calibration": self.calibration}  # fmt: skip

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> DescriptionRanker:
        return cls(state["catalogue"], list(state["codes"]), [t.split(" ") for t in state["titles"]],
                   {k: float(v) for k, v in state["idf"].items()}, {k: int(v) for k, v in state["category_pairs"].items()},
                   list(state["label_names"]), float(state["min_coverage"]), int(state["top_k"]), state.get("coef"), state.get("intercept"),
                   dict(state.get("calibration") or {}))  # fmt: skip


def _prefixes(code: str) -> list[str]:
    """The 3-character category and the parent code (one character shorter) of a code, e.g. I82.90 -> [I82, I82.9]."""
    plain = code.replace(".", "")
    parent = plain[:-1] if len(plain) > 4 else plain[:3]
    return [plain[:3], f"{parent[:3]}.{parent[3:]}" if len(parent) > 3 else parent]


def ranked_with_descriptions(probs: np.ndarray, label_names: list[str], described: DescribedScores | None,
                             ranker: DescriptionRanker | None) -> list[list[tuple[str, float]]]:  # fmt: skip
    """Per note, every label and each described code with its probability, most probable first (ties: labels first)."""
    out = []
    for row in range(probs.shape[0]):
        items = list(zip(label_names, probs[row].tolist()))
        if described is not None and ranker is not None:
            items += [(ranker.codes[c], float(p)) for c, p in zip(described.code[row], described.probability[row]) if c >= 0]
        out.append(sorted(items, key=lambda item: -item[1]))
    return out


def map_by_kind(rankings: list[list[tuple[str, float]]], gold: list[set[str]], label_names: list[str]) -> dict[str, float | None]:
    """MAP over every gold code (CodiEsp's official), and its two parts: over the gold codes inside the label set (seen in
    training) and outside it (unseen), each precision read on the full ranking, an unranked gold code counting 0."""
    known = set(label_names)
    ap: dict[str, list[float]] = {"all": [], "seen": [], "unseen": []}
    for ranking, codes in zip(rankings, gold):
        if not codes:
            continue
        precision, hits = {}, 0
        for rank, (code, _) in enumerate(ranking, start=1):
            if code in codes:
                hits += 1
                precision[code] = hits / rank
        for kind, part in (("all", codes), ("seen", codes & known), ("unseen", codes - known)):
            if part:
                ap[kind].append(sum(precision.get(c, 0.0) for c in part) / len(part))
    return {f"map_{k}" if k != "all" else "map_all_gold": (float(np.mean(v)) if v else None) for k, v in ap.items()}
