"""Frozen settings for every pipeline stage; each config's key() hashes its settings plus its parent key."""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

DEFAULT_DB = Path(__file__).resolve().parent.parent / "data" / "trend.duckdb"
DB_ENV_VAR = "TREND_DB"


def default_db_path() -> Path:
    """Database path: $TREND_DB if set, else data/trend.duckdb inside the checkout."""
    return Path(os.environ.get(DB_ENV_VAR) or DEFAULT_DB)


def stable_hash(*parts: Any, length: int = 16) -> str:
    """Short sha256 of JSON-serialised parts (sorted keys), stable across runs and machines."""
    text = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


@dataclass(frozen=True)
class StageConfig:
    """Base: key() = hash(stage name, settings, parent key)."""

    def key(self, parent: str = "") -> str:
        return stable_hash(type(self).__name__, asdict(self), parent)

    def replace(self, **changes: Any) -> "StageConfig":
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(changes)
        return type(self)(**values)


@dataclass(frozen=True)
class SegmentConfig(StageConfig):
    method: str = "border"            # registry name in trend_core.segment.SEGMENTERS
    min_clothing_ratio: float = 0.05  # images with less clothing are left out of style fitting


@dataclass(frozen=True)
class ImageConfig(StageConfig):
    encoder: str = "handcrafted"  # registry name in trend_core.embed.image.IMAGE_EMBEDDERS
    size: int = 128               # input side for encoders that take any size (handcrafted); CNNs use their own


@dataclass(frozen=True)
class TextConfig(StageConfig):
    method: str = "tfidf"      # tfidf (TF-IDF + SVD) | word2vec (gensim, trained on the corpus) | sentence
    svd_dim: int = 48          # TF-IDF is reduced to this many dimensions
    min_df: int = 2            # a token must appear in this many posts
    max_features: int = 20000  # vocabulary cap
    w2v_dim: int = 64          # word2vec vector size
    w2v_window: int = 5        # word2vec context window
    w2v_epochs: int = 20       # word2vec training passes over the corpus
    sentence_model: str = "paraphrase-multilingual-MiniLM-L12-v2"  # sentence-transformers model (local only)


@dataclass(frozen=True)
class FusionConfig(StageConfig):
    # blocks that enter the fused vector: image (encoder on the full photo), mask (encoder on the
    # clothing only, the masked image), text, engagement
    modalities: tuple[str, ...] = ("mask", "text", "engagement")
    image_weight: float = 1.0
    mask_weight: float = 1.0
    text_weight: float = 1.0
    engagement_weight: float = 0.25


@dataclass(frozen=True)
class StyleConfig(StageConfig):
    n_neighbors: int = 15        # UMAP neighbourhood
    n_components: int = 8        # UMAP dimensions used for clustering (a 2-d map is fitted too)
    k_min: int = 2
    k_max: int = 16
    k: int | None = None         # None: pick the K with the best silhouette
    silhouette_sample: int = 3000  # posts sampled per silhouette score
    silhouette_repeats: int = 3    # independent samples per K (the curve's error band)
    seed: int = 0

    def reduce_key(self, parent: str) -> str:
        """Key of the UMAP stage alone (K settings excluded, so a new K does not re-run UMAP)."""
        return stable_hash("reduce", self.n_neighbors, self.n_components, self.seed, parent)

    def sweep_key(self, parent: str) -> str:
        return stable_hash("sweep", self.k_min, self.k_max, self.silhouette_sample, self.silhouette_repeats,
                           self.seed, self.reduce_key(parent))


@dataclass(frozen=True)
class TrendConfig(StageConfig):
    period: str = "month"        # day | week | month
    hot_quantile: float = 0.8    # a style is hot when its share is in the top (1-q) of styles that period
    trend_threshold: float = 0.05  # rising / falling when the share moves by more than +-5 %
    min_period_images: int = 30  # periods with fewer images are flagged and left out of the monthly top 5


@dataclass(frozen=True)
class ForecastConfig(StageConfig):
    period: str = "week"
    window: int = 8              # W input periods
    gap: int = 0                 # G periods between the last input and the first target
    horizon: int = 4             # H periods forecast
    modalities: tuple[str, ...] = ("share", "engagement")  # covariates fed to the LSTM
    model: str = "lstm"          # neural model: lstm | attention (forecast.models.NEURAL_MODELS)
    hidden: int = 32             # LSTM hidden size
    epochs: int = 60
    learning_rate: float = 3e-3
    test_periods: int = 26       # the last periods of the series form the test span (half a year of weeks)
    folds: int = 2               # rolling origins: fold f tests the P periods ending (folds-1-f) * P early
    seed: int = 0


SHARE_UNITS = ("images", "posts")  # what a style's share counts (PipelineConfig.share_unit)


@dataclass(frozen=True)
class PipelineConfig:
    """All stage settings together; the CLI and the app build one of these."""

    segment: SegmentConfig = field(default_factory=SegmentConfig)
    image: ImageConfig = field(default_factory=ImageConfig)
    text: TextConfig = field(default_factory=TextConfig)
    fusion: FusionConfig = field(default_factory=FusionConfig)
    styles: StyleConfig = field(default_factory=StyleConfig)
    trends: TrendConfig = field(default_factory=TrendConfig)
    forecast: ForecastConfig = field(default_factory=ForecastConfig)
    style_source: str = "clusters"  # "clusters": K-means on fused vectors; "labels": the imported style column
    # a post with no usable image (when image blocks are fused) takes the style whose centre is nearest in
    # the text + engagement space ("text-assigned") and counts in trends
    text_assign: bool = True
    share_unit: str = "images"      # shares count images ("images", as the original study) or posts ("posts":
    #                                 each post split evenly over its images' styles)
