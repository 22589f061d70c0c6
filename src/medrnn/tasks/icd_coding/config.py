"""Configuration of clinical-notes -> ICD-10 runs (CodiEsp); defaults follow LAAT's recipe at CPU-friendly sizes."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from medrnn.config.schema import StrictConfig, TrainConfig
from medrnn.io.icd_descriptions import catalogue_for, catalogue_language


class NotesDataConfig(StrictConfig):
    """Which notes, which codes are labels, how text becomes token windows, and which word vectors start the embedding."""

    data: str = "codiesp"  # a dataset name under the data root, or a CodiEsp folder (holding train/ dev/ test/)
    language: Literal["es", "en"] = "es"  # en: the machine translation (text_files_en/); evidence spans exist for es only
    code_types: list[Literal["D", "P"]] = ["D"]  # D: ICD-10-CM diagnoses (CodiEsp-D), P: ICD-10-PCS procedures
    min_label_count: int = Field(1, ge=1, description="codes seen in fewer training documents are not labels (counted)")
    window: int = Field(2500, ge=1, description="tokens per model input; longer documents are chunked, scores max-merged")
    min_token_count: int = Field(1, ge=1, description="tokens seen fewer times in the training text map to <unk>")
    # privacy: the vocabulary is saved inside the model file. In hospital notes the words that occur in only a few
    # documents are mostly names, record and phone numbers, dates and addresses, so a word enters the vocabulary only
    # when at least `min_doc_freq` training documents hold it (a k-anonymity threshold); rarer words read <unk>
    min_doc_freq: int = Field(5, ge=1, description="words found in fewer training documents map to <unk> and never reach the "
                              "model file (in hospital notes they are names and record numbers)")  # fmt: skip
    # codes no training note carries, ranked from their code-book titles (tasks/icd_coding/descriptions.py); the catalogue's
    # language must be the notes' (cie10-es: Spanish CIE-10 titles, the `cie` package; icd10cm-en: CDC ICD-10-CM titles);
    # auto = the catalogue of data.language
    code_descriptions: Literal["auto", "none", "cie10-es", "icd10cm-en"] = Field(
        "auto", description="rank codes outside the label set from their titles: auto (the notes' language), none, cie10-es "
        "(Spanish notes) or icd10cm-en (English)")
    description_top_k: int = Field(20, ge=1, description="codes outside the label set ranked per note (code_descriptions)")
    # none: random rows N(0, 1). On CodiEsp random rows beat word2vec (trained on the training notes, or on every training
    # note through `medrnn pretrain`) at every labelled share and in the evidence recipe (dev MAP 0.64-0.65 against 0.47-0.49,
    # test 0.69 against 0.52; docs/benchmarks.md): 500 notes are too few for word2vec, whose small, look-alike rows the
    # label attention must first pull apart. word2vec stays for larger corpora (MIMIC-size notes, where CAML/LAAT used it)
    embeddings: Literal["word2vec", "none"] = "none"
    embedding_dim: int = Field(100, ge=1)
    # quick runs and tests: the first N notes of each official split (in file order); None = every note
    documents_per_split: int | None = Field(None, ge=1, description="keep the first N notes of each split (None: all)")

    @property
    def catalogue(self) -> str | None:
        """The code-book titles this run matches (None: off)."""
        if self.code_descriptions == "auto":
            return catalogue_for(self.language)
        return None if self.code_descriptions == "none" else self.code_descriptions

    @model_validator(mode="after")
    def _catalogue_language(self) -> NotesDataConfig:
        """Titles are matched against the notes' words: their languages must agree."""
        if self.code_descriptions not in ("none", "auto") and catalogue_language(self.code_descriptions) != self.language:
            raise ValueError(f"code_descriptions={self.code_descriptions!r} holds {catalogue_language(self.code_descriptions)!r} "
                             f"titles but the notes are read in {self.language!r}; use {catalogue_for(self.language)} (or "
                             "auto, or none)")  # fmt: skip
        return self

    @field_validator("code_types", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        """`--codes d,p` and `[d]` mean D and P, as the old `medrnn train notes --codes` read them."""
        return [v.strip().upper() if isinstance(v, str) else v for v in value] if isinstance(value, (list, tuple)) else value


class NotesModelConfig(StrictConfig):
    """LAAT by default; caml and bigru_maxpool read the same token ids (a field the chosen model does not take must keep its default)."""

    name: Literal["laat", "caml", "bigru_maxpool"] = "laat"
    hidden_size: int = Field(128, ge=1, description="laat/bigru: units per direction (paper 256-512); caml: filter maps (paper 50)")
    attention_size: int = Field(128, ge=1, description="laat: rows d_a of the shared attention projection")
    num_layers: int = Field(1, ge=1)
    dropout: float = Field(0.3, ge=0, lt=1)
    kernel_size: int = Field(10, ge=1, description="caml: convolution width in tokens")
    output_bias: Literal["prior", "zero"] = Field("prior", description="prior: each label's bias starts at its training log-odds")


class NotesTrainConfig(TrainConfig):
    """TrainConfig for multi-label coding: BCE over all labels, early stopping on dev MAP (CodiEsp's ranking metric)."""

    batch_size: int = Field(8, ge=1)
    # CodiEsp-D, seed 0, dev MAP: lr 3e-3 beat 1e-3 (0.157 vs 0.107) and 1e-2 (unstable); the best epoch came after 27
    lr: float = Field(3e-3, gt=0)
    max_epochs: int = Field(50, ge=1)
    patience: int = Field(8, ge=1)
    # dev MAP: validation loss bottoms out within an epoch or two, while the model is still at label frequencies
    # (measured: best epoch 1, test MAP 0.124); mean AUROC over ~1,800 sparse codes is noisy and slow
    monitor: Literal["val_map", "val_loss"] = "val_map"  # type: ignore[assignment]
    class_weighting: Literal["none"] = "none"  # type: ignore[assignment]
    augment: bool = False
    weight_decay: float = Field(0.0, ge=0)
    # supervised label attention on the training notes' gold evidence spans (CodiEsp-X, Spanish text): CodiEsp-D test
    # MAP 0.193 -> 0.523 for LAAT over 3 seeds (weight 0.1; 1.0 trailed it on dev). "auto" = AUTO_EVIDENCE_WEIGHT where
    # the model has label attention and the training notes carry spans, else off (reason in metrics.json)
    evidence_weight: float | Literal["auto"] = Field("auto", description="weight of the evidence-span attention loss; 0 = off")

    @field_validator("evidence_weight")
    @classmethod
    def _non_negative(cls, value: float | str) -> float | str:
        if value != "auto" and float(value) < 0:
            raise ValueError(f"must be 'auto' or a number >= 0, got {value}")
        return value


AUTO_EVIDENCE_WEIGHT = 0.1


class NotesPretrainConfig(StrictConfig):
    """`medrnn pretrain icd_coding`: word2vec on every CodiEsp training note (labelled or not; never a dev or test note).

    The vocabulary follows `data.min_token_count` and `data.min_doc_freq`, the vectors `data.embedding_dim`, the model
    `model.*`: what a target run must share to take the rows over (`--init-from`).
    """

    # the texts word2vec reads: None = data.language (the language the model reads); ["es", "en"] adds the translation
    # of each training note (the vocabulary counts a note once, in whichever of its versions a word occurs)
    languages: list[Literal["es", "en"]] | None = Field(None, min_length=1, description="training-note versions word2vec "
                                                        "reads (None: data.language only)")  # fmt: skip
    epochs: int = Field(10, ge=1, description="word2vec passes over the corpus")

    @field_validator("languages")
    @classmethod
    def _once_each(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and len(set(value)) != len(value):
            raise ValueError(f"give each language at most once, got {value}")
        return value


class NotesRunConfig(StrictConfig):
    """Everything that defines one notes run; written to config.yaml beside its outputs."""

    data: NotesDataConfig = NotesDataConfig()
    model: NotesModelConfig = NotesModelConfig()
    train: NotesTrainConfig = NotesTrainConfig()
    pretrain: NotesPretrainConfig = NotesPretrainConfig()  # `medrnn pretrain icd_coding` only; a training run ignores it
    bootstrap: int = Field(1000, ge=0, description="bootstrap resamples (by document) for the CIs")
    evidence_documents: int = Field(20, ge=0, description="test documents written to evidence.json")
