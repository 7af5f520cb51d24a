"""Runs the stages in order (posts -> masks -> features -> fused vectors -> styles), skipping what is
cached under its key, and reports progress through a callback. Also the read side the app uses."""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from io import StringIO
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import pairwise_distances_argmin

from trend_core import styles as style_ops
from trend_core import text as text_ops
from trend_core import trends
from trend_core.config import SHARE_UNITS, ForecastConfig, PipelineConfig, stable_hash
from trend_core.embed.fusion import fuse
from trend_core.embed.numeric import engagement_matrix
from trend_core.embed.text import make_text_embedder
from trend_core.image_stages import image_set_key, run_image_embedding, run_segmentation, segmenter_key
from trend_core.plugins import effective_config
from trend_core.store import Store, post_keys

Progress = Callable[[float, str], None]
IMAGE_BLOCKS = ("image", "mask")  # fused blocks read from per-image vectors (full photo, masked clothing)
TEXT_ASSIGNED = "text-assigned"   # route of a look with no usable image, styled by its text + engagement
IMAGE_REASONS = ("no image", "image not segmented", "clothing below")  # exclusions text assignment can fill


def text_rows(text_arrays: dict[str, np.ndarray], posts: pd.DataFrame) -> np.ndarray:
    """Row of the (per post) text artifact for each look of `posts`."""
    return pd.Index(text_arrays["post_ids"].astype(str)).get_indexer(post_keys(posts).astype(str))


def _quiet(fraction: float, message: str) -> None:
    """Default progress callback: does nothing."""


@dataclass
class StageReport:
    stage: str
    key: str
    cached: bool
    seconds: float
    detail: str = ""


@dataclass
class StageKeys:
    """Every stage's cache key for one dataset and one configuration."""

    dataset: str
    segmenter: str
    image: str
    mask: str
    text: str
    fusion: str
    reduce: str
    sweep: str
    fit: str


def text_embedder_id(config: PipelineConfig) -> str:
    """Name, version and weights of the text method (part of the text key)."""
    embedder = make_text_embedder(config.text)
    return f"{embedder.name}@{embedder.version}#{embedder.weights_id}"


def stage_keys(dataset_key: str, config: PipelineConfig) -> StageKeys:
    """Derive all keys without doing any work; each key includes its parents' keys."""
    mods = set(config.fusion.modalities)
    uses_images = bool({"image", "mask"} & mods)
    seg = stable_hash("segment", segmenter_key(config), config.segment.min_clothing_ratio) if uses_images else ""
    image = stable_hash("image", image_set_key(config, False), dataset_key) if "image" in mods else ""
    mask = stable_hash("mask", image_set_key(config, True), dataset_key) if "mask" in mods else ""
    text = config.text.key(stable_hash(dataset_key, text_embedder_id(config)))
    fusion = config.fusion.key(stable_hash(seg, image, mask, text, config.style_source))
    reduce_key = config.styles.reduce_key(fusion)
    sweep = config.styles.sweep_key(fusion)
    assign = config.text_assign and uses_images and config.style_source != "labels"
    fit = stable_hash("fit", config.styles.k, config.styles.seed, config.style_source, reduce_key, sweep,
                      *(["text-assign"] if assign else []))
    return StageKeys(dataset_key, seg, image, mask, text, fusion, reduce_key, sweep, fit)


# -- settings the analyst chose in the app -------------------------------------------------------
def save_choice(store: Store, name: str, value: Any) -> None:
    """Remember an analyst's choice (e.g. 'k', 'modalities', 'style_source')."""
    store.set_setting(f"choice.{name}", json.dumps(value))


def load_choice(store: Store, name: str, default: Any = None) -> Any:
    raw = store.get_setting(f"choice.{name}")
    return default if raw is None else json.loads(raw)


def load_choices(store: Store) -> dict[str, Any]:
    """Every saved choice (name without 'choice.' -> value), read with one connection (each page
    render reads the settings several times; a connection costs tens of milliseconds)."""
    saved = store.query_df("SELECT name, value FROM settings WHERE starts_with(name, 'choice.')")
    return {str(name)[len("choice."):]: json.loads(value) for name, value in zip(saved["name"], saved["value"])}


def config_from_settings(store: Store, base: PipelineConfig | None = None) -> PipelineConfig:
    """The pipeline configuration with the analyst's saved choices applied."""
    config = base or PipelineConfig()
    choices = load_choices(store)
    k = choices.get("k")
    modalities = choices.get("modalities")
    source = choices.get("style_source")
    if k is not None:
        config = replace(config, styles=config.styles.replace(k=int(k) if k else None))
    if modalities:
        config = replace(config, fusion=config.fusion.replace(modalities=tuple(modalities)))
    if source:
        config = replace(config, style_source=source)
    if choices.get("text_assign") is not None:
        config = replace(config, text_assign=bool(choices["text_assign"]))
    if choices.get("share_unit") in SHARE_UNITS:
        config = replace(config, share_unit=choices["share_unit"])
    sweep_range = {name: choices.get(name) for name in ("k_min", "k_max", "silhouette_repeats")}
    if any(v is not None for v in sweep_range.values()):
        config = replace(config, styles=config.styles.replace(
            **{name: int(v) for name, v in sweep_range.items() if v is not None}))
    segmenter = choices.get("segmenter")
    min_ratio = choices.get("min_clothing_ratio")
    if segmenter or min_ratio is not None:
        config = replace(config, segment=config.segment.replace(
            method=segmenter or config.segment.method,
            min_clothing_ratio=config.segment.min_clothing_ratio if min_ratio is None else float(min_ratio)))
    encoder = choices.get("encoder")
    if encoder:
        config = replace(config, image=config.image.replace(encoder=encoder))
    text_method = choices.get("text_method")
    if text_method:
        config = replace(config, text=config.text.replace(method=text_method))
    min_images = choices.get("min_period_images")
    if min_images is not None:
        config = replace(config, trends=config.trends.replace(min_period_images=max(0, int(min_images))))
    return config


STYLE_NAME_CHARS = 60  # longest name the analyst may give a style


def style_names_choice(clustering_key: str) -> str:
    """Choice name under which the analyst's style names for one clustering are kept."""
    return f"style_names.{clustering_key}"


def has_style_names(store: Store, clustering_key: str) -> bool:
    """Whether names were ever saved for this clustering (even none: it was shown already)."""
    return load_choice(store, style_names_choice(clustering_key)) is not None


def load_style_names(store: Store, clustering_key: str) -> dict[int, str]:
    """style number -> name the analyst gave it in this clustering (default names are not stored)."""
    saved = load_choice(store, style_names_choice(clustering_key)) or {}
    return {int(style): str(name) for style, name in saved.items()}


def clean_style_name(name: object) -> str:
    """A given name as stored: one line, outer spaces removed, at most STYLE_NAME_CHARS characters."""
    return " ".join(str(name or "").split())[:STYLE_NAME_CHARS]


def save_style_names(store: Store, clustering_key: str, names: dict[int, str]) -> dict[int, str]:
    """Store the analyst's names for one clustering (blank names dropped: the default applies).
    Returns what was stored."""
    cleaned = {int(style): clean_style_name(name) for style, name in names.items()}
    kept = {style: name for style, name in sorted(cleaned.items()) if name}
    save_choice(store, style_names_choice(clustering_key), {str(style): name for style, name in kept.items()})
    return kept


def rename_style(store: Store, clustering_key: str, style: int, name: str) -> dict[int, str]:
    """Give one style of a clustering a name (a blank name restores the default); returns all names."""
    names = load_style_names(store, clustering_key)
    names[int(style)] = name
    return save_style_names(store, clustering_key, names)


# -- stages --------------------------------------------------------------------------------------
def run_text(store: Store, posts: pd.DataFrame, config: PipelineConfig, key: str) -> bool:
    """Tokenise posts, embed them with the configured text method and keep each post's keyphrase
    candidates (for style descriptions); stored under the text key, one row per post (the images of
    a post share its text: `text_rows` maps looks to rows). Returns True when cached."""
    if store.has_artifact(key):
        return True
    posts = posts.assign(post_id=post_keys(posts)).drop_duplicates("post_id")
    stopwords = text_ops.load_stopwords()
    docs = [text_ops.post_document(t, c, g) for t, c, g in zip(posts["title"], posts["content"], posts["tags"])]
    tokens = [text_ops.tokenize(d, stopwords) for d in docs]
    matrix = make_text_embedder(config.text).fit_transform(tokens, docs)
    phrases = [text_ops.PHRASE_SEPARATOR.join(text_ops.phrase_candidates(d)) for d in docs]
    store.put_artifact(key, "text", {
        "post_ids": posts["post_id"].to_numpy(dtype=str),
        "tokens": np.array([" ".join(t) for t in tokens], dtype=str),
        "phrases": np.array(phrases, dtype=str),
        "matrix": np.asarray(matrix, dtype=np.float32)}, {"n": len(posts), "method": config.text.method})
    return False


def _exclusions(posts: pd.DataFrame, ratios: dict[str, float], config: PipelineConfig) -> np.ndarray:
    """Reason each post is left out of style fitting ('' when it is kept)."""
    reasons = np.full(len(posts), "", dtype=object)
    if config.style_source == "labels":
        labels = posts["style_label"]
        reasons[(labels.isna() | (labels.astype(str).str.strip() == "")).to_numpy()] = "no style label"
    if set(IMAGE_BLOCKS) & set(config.fusion.modalities) and config.style_source != "labels":
        for i, h in enumerate(posts["image_hash"]):
            if reasons[i]:
                continue
            if not isinstance(h, str) or not h:
                reasons[i] = "no image"
            elif h not in ratios:
                reasons[i] = "image not segmented"
            elif ratios[h] < config.segment.min_clothing_ratio:
                reasons[i] = f"clothing below {config.segment.min_clothing_ratio:.0%} of the image"
    return reasons


def run_fusion(store: Store, posts: pd.DataFrame, config: PipelineConfig, keys: StageKeys) -> bool:
    """Fuse the chosen modality blocks for the posts kept for style fitting."""
    if store.has_artifact(keys.fusion):
        return True
    hashes = [h for h in posts["image_hash"] if isinstance(h, str) and h]
    mods = config.fusion.modalities
    ratios: dict[str, float] = {}
    if set(IMAGE_BLOCKS) & set(mods):
        ratios = {h: r for h, (r, _) in store.load_masks(hashes, segmenter_key(config)).items()}
    reasons = _exclusions(posts, ratios, config)
    kept = reasons == ""
    image_blocks = [b for b in IMAGE_BLOCKS if b in mods]
    vectors = {b: store.load_image_vectors(hashes, image_set_key(config, masked=b == "mask")) for b in image_blocks}
    if config.style_source == "labels" and not all(
            isinstance(h, str) and h in vectors[b] for b in image_blocks for h in posts["image_hash"][kept]):
        image_blocks = []  # labels as given: looks without a picture are kept; the map uses the other blocks
    blocks = {b: (np.stack([vectors[b][h] for h in posts["image_hash"][kept]]) if kept.any()
                  else np.zeros((0, 1), np.float32)) for b in image_blocks}
    text_all = None
    if "text" in mods:
        text_arrays, _ = store.get_artifact(keys.text)
        text_all = text_arrays["matrix"][text_rows(text_arrays, posts)]
        blocks["text"] = text_all[kept]
    if "engagement" in mods:
        blocks["engagement"] = engagement_matrix(posts[kept])
    weights = {"image": config.fusion.image_weight, "mask": config.fusion.mask_weight,
               "text": config.fusion.text_weight, "engagement": config.fusion.engagement_weight}
    fused = fuse(blocks, weights) if blocks and kept.any() else np.zeros((int(kept.sum()), 0), np.float32)
    ratio_arr = np.array([ratios.get(h, np.nan) if isinstance(h, str) else np.nan for h in posts["image_hash"]])
    arrays = {"post_ids": posts["post_id"].to_numpy(dtype=str), "kept": kept,
              "reasons": reasons.astype(str), "clothing_ratio": ratio_arr, "matrix": fused}
    if image_blocks and config.style_source != "labels":  # for text assignment (a fit setting)
        side = {"engagement": engagement_matrix(posts)} | ({"text": text_all} if text_all is not None else {})
        arrays["assign_matrix"] = fuse(side, weights)  # every look, text + engagement only
    store.put_artifact(keys.fusion, "fusion", arrays,
                       {"modalities": list(mods), "image_blocks": image_blocks, "kept": int(kept.sum())})
    return False


def run_reduce(store: Store, config: PipelineConfig, keys: StageKeys) -> bool:
    if store.has_artifact(keys.reduce):
        return True
    fused, _ = store.get_artifact(keys.fusion)
    Z, map2d = style_ops.reduce(fused["matrix"], config.styles)
    store.put_artifact(keys.reduce, "reduce", {"Z": Z.astype(np.float32), "map2d": map2d.astype(np.float32)})
    return False


def run_sweep(store: Store, config: PipelineConfig, keys: StageKeys, progress: Progress = _quiet) -> bool:
    """Silhouette and the second indices for every K of the configured range (K < posts)."""
    if store.has_artifact(keys.sweep):
        return True
    cfg = config.styles
    if not 2 <= cfg.k_min <= cfg.k_max <= style_ops.MAX_K:
        raise ValueError(f"the K range must satisfy 2 <= K from <= K to <= {style_ops.MAX_K}; "
                         f"got {cfg.k_min}..{cfg.k_max}")
    Z = store.get_artifact(keys.reduce)[0]["Z"]
    ks = [k for k in range(cfg.k_min, cfg.k_max + 1) if k < len(Z)]
    sweep = style_ops.sweep_k(Z, ks, cfg.silhouette_sample, cfg.seed, repeats=cfg.silhouette_repeats,
                              progress=progress)
    store.put_artifact(keys.sweep, "sweep", {name: sweep[name].to_numpy() for name in sweep.columns})
    return False


def run_fit(store: Store, posts: pd.DataFrame, config: PipelineConfig, keys: StageKeys) -> bool:
    """K-means at the chosen K (or user labels) plus each style's keywords and exemplars."""
    if store.has_artifact(keys.fit):
        return True
    fused = store.get_artifact(keys.fusion)[0]
    Z = store.get_artifact(keys.reduce)[0]["Z"]
    kept = fused["kept"]
    text_arrays = store.get_artifact(keys.text)[0]
    rows = text_rows(text_arrays, posts)[kept]
    tokens = [t.split() for t in text_arrays["tokens"][rows]]
    phrases = [text_ops.split_phrases(p) for p in text_arrays["phrases"][rows]]
    post_ids = posts["post_id"].to_numpy(dtype=str)[kept]
    if config.style_source == "labels":
        if not len(kept) or posts["style_label"][kept].isna().all():
            raise ValueError("styles from labels need a `style` column: no kept post has a style label "
                             "(import one, e.g. a column named style / label / 风格, or use clusters)")
        given = posts["style_label"][kept].astype(str)
        names = np.array(sorted(given.unique(), key=_label_order))
        labels = pd.Index(names).get_indexer(given.to_numpy())
        k = len(names)
        centers = np.stack([Z[labels == s].mean(axis=0) for s in range(k)])
        auto_k = k
    else:
        sweep = _frame(store.get_artifact(keys.sweep)[0])
        auto_k = style_ops.choose_k(sweep)
        k = int(config.styles.k or auto_k)
        labels, centers = style_ops.fit_styles(Z, k, config.styles.seed)
        names = None
    described = style_ops.describe_styles(labels, tokens, Z, centers, list(post_ids), phrase_lists=phrases)
    described = described.sort_values("style").reset_index(drop=True)
    if names is None:
        names = np.array([_style_name(s, kw) for s, kw in zip(described["style"], described["keywords"])])
    assigned = (_text_assigned(fused, np.asarray(labels), k) if config.text_assign and "assign_matrix" in fused
                else np.full(len(kept), -1))
    store.put_artifact(keys.fit, "fit", {
        "labels": np.asarray(labels, dtype=np.int64), "centers": centers.astype(np.float32),
        "names": names.astype(str), "assigned": assigned.astype(np.int64)}, {
        "text_assigned": int((assigned >= 0).sum()),
        "k": int(k), "auto_k": int(auto_k),
        "keywords": [list(map(str, kw)) for kw in described["keywords"]],
        "exemplars": [list(map(str, ex)) for ex in described["exemplars"]],
        "phrases": [[text_ops.phrase_text(p) for p in ph] for ph in described["phrases"]],
        "sizes": [int(s) for s in described["size"]]})
    return False


def _label_order(label: str) -> tuple[int, float, str]:
    """Numbers first in numeric order (labels 2 before 10), then text in text order."""
    try:
        return 0, float(label), label
    except ValueError:
        return 1, 0.0, label


def _text_assigned(fused: dict[str, np.ndarray], labels: np.ndarray, k: int) -> np.ndarray:
    """Style of each look left out for want of a usable image: the style whose centre (mean of its
    fitted looks in the text + engagement space) is nearest; -1 for every other look."""
    side, kept, reasons = fused["assign_matrix"], fused["kept"], fused["reasons"].astype(str)
    out = np.full(len(kept), -1, dtype=np.int64)
    todo = np.flatnonzero(np.array([r.startswith(IMAGE_REASONS) for r in reasons]))
    if not len(todo) or not kept.any() or side.shape[1] == 0:
        return out
    fitted = side[kept]
    styles = np.array([s for s in range(k) if (labels == s).any()])
    centres = np.stack([fitted[labels == s].mean(axis=0) for s in styles])
    out[todo] = styles[pairwise_distances_argmin(side[todo], centres)]
    return out


def _style_name(style: int, keywords: list[str]) -> str:
    """Default name: style number plus its two strongest keywords."""
    top = "·".join(list(keywords)[:2])
    return f"S{style} {top}".strip()


def _frame(arrays: dict[str, np.ndarray]) -> pd.DataFrame:
    return pd.DataFrame({name: value for name, value in arrays.items()})


# -- orchestration -------------------------------------------------------------------------------
@dataclass
class PipelineResult:
    dataset_key: str
    reports: list[StageReport]
    view: "StylesView | None"
    config: PipelineConfig | None = None     # the configuration that ran (after any fallback)
    notices: list[str] = field(default_factory=list)  # parts that fell back to weights-free ones

    def summary(self) -> dict[str, Any]:
        return {"dataset_key": self.dataset_key, "notices": self.notices,
                "stages": [{"stage": r.stage, "cached": r.cached, "seconds": round(r.seconds, 2),
                            "detail": r.detail, "key": r.key} for r in self.reports]}


StageStep = Callable[[Progress], tuple[bool, str]]


def _image_plan(store: Store, hashes: list[str], config: PipelineConfig,
                keys: StageKeys) -> list[tuple[str, float, str, StageStep]]:
    """Segmentation and the image embedding sets the fused blocks need."""
    def counted(computed: int, cached: int) -> tuple[bool, str]:
        return computed == 0, f"{computed} computed, {cached} cached"

    plan = [("segment", 0.2, keys.segmenter,
             lambda p: counted(*run_segmentation(store, hashes, config, p)))]
    if "image" in config.fusion.modalities:
        plan.append(("image embedding", 0.2, keys.image,
                     lambda p: counted(*run_image_embedding(store, hashes, config, False, p))))
    if "mask" in config.fusion.modalities:
        plan.append(("mask embedding", 0.2, keys.mask,
                     lambda p: counted(*run_image_embedding(store, hashes, config, True, p))))
    return plan


def run_pipeline(store: Store, config: PipelineConfig | None = None, progress: Progress | None = None,
                 fallback: bool = False) -> PipelineResult:
    """Run every stage whose result is not cached yet; return reports and the resulting view.

    A segmenter, encoder or text method that cannot run here (weights or package missing) raises with
    instructions, or with fallback=True is replaced by the weights-free one and named in `notices`."""
    config, notices = effective_config(config or PipelineConfig(), fallback=fallback)
    progress = progress or _quiet
    posts = store.load_posts()
    if posts.empty:
        raise ValueError("the database holds no posts yet: import a file or build the demo first")
    keys = stage_keys(store.dataset_key(), config)
    hashes = sorted({h for h in posts["image_hash"] if isinstance(h, str) and h})
    reports: list[StageReport] = []
    plan = _image_plan(store, hashes, config, keys) if set(IMAGE_BLOCKS) & set(config.fusion.modalities) else []
    plan += [
        ("text features", 0.15, keys.text,
         lambda p: (run_text(store, posts, config, keys.text),
                    f"{post_keys(posts).nunique():,} posts, {config.text.method}")),
        ("fusion", 0.05, keys.fusion,
         lambda p: (run_fusion(store, posts, config, keys), ", ".join(config.fusion.modalities))),
        ("reduce (UMAP)", 0.15, keys.reduce,
         lambda p: (run_reduce(store, config, keys), f"{config.styles.n_components} dims")),
    ]
    if config.style_source != "labels":
        plan.append(("K sweep", 0.1, keys.sweep, lambda p: (run_sweep(store, config, keys, p),
                                                             f"K={config.styles.k_min}..{config.styles.k_max}")))
    plan.append(("styles", 0.05, keys.fit, lambda p: (run_fit(store, posts, config, keys),
                                                       f"K={config.styles.k or 'auto'}")))
    total = sum(weight for _, weight, _, _ in plan)
    done = 0.0
    for stage, weight, key, step in plan:
        start = time.perf_counter()
        progress(done / total, f"{stage}…")

        def sub(fraction: float, message: str, _done: float = done, _w: float = weight, _s: str = stage) -> None:
            progress(min(1.0, (_done + _w * fraction) / total), f"{_s}: {message}")
        cached, detail = step(sub)
        reports.append(StageReport(stage, key, cached, time.perf_counter() - start, detail))
        done += weight
    progress(1.0, "done")
    return PipelineResult(keys.dataset, reports, load_view(store, config, posts=posts, keys=keys), config, notices)


def build_demo(store: Store, n_posts: int = 1200, seed: int = 0, config: PipelineConfig | None = None,
               progress: Progress | None = None, fallback: bool = False) -> PipelineResult:
    """Write the deterministic demo dataset into the store and run the pipeline on it."""
    from trend_core.demo import write_demo

    progress = progress or _quiet
    progress(0.0, f"drawing {n_posts} demo posts…")
    write_demo(store, n_posts=n_posts, seed=seed)
    return run_pipeline(store, config or config_from_settings(store),
                        lambda f, m: progress(0.1 + 0.9 * f, m), fallback=fallback)


# -- read side -----------------------------------------------------------------------------------
@dataclass
class StylesView:
    """Everything the pages show about one clustering, read from the cache."""

    posts: pd.DataFrame
    sweep: pd.DataFrame
    k: int
    auto_k: int
    styles: pd.DataFrame
    clustering_key: str
    keys: StageKeys
    config: PipelineConfig
    _share_cache: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False)

    @property
    def share_key(self) -> str:
        """The clustering and what its shares count (images or posts): the identity of its share tables."""
        return f"{self.clustering_key}:{self.config.share_unit}"

    def kept_posts(self) -> pd.DataFrame:
        """Looks with a style: fitted, or text-assigned (they count in trends)."""
        return self.posts[self.posts["style"] >= 0]

    def routes(self) -> pd.DataFrame:
        """How many looks (images) and posts each route covers: fitted on the fused features,
        text-assigned, or left out (one row per reason)."""
        route = np.where(self.posts["route"] == "left out",
                         "left out: " + self.posts["excluded"].fillna("").astype(str), self.posts["route"])
        frame = pd.DataFrame({"route": route, "post": post_keys(self.posts).to_numpy()})
        table = frame.groupby("route", sort=False).agg(images=("route", "size"), posts=("post", "nunique"))
        order = {"fitted": 0, TEXT_ASSIGNED: 1}
        return table.reset_index().sort_values("route", key=lambda r: r.map(order).fillna(2), kind="stable")

    def mostly_without_images(self) -> bool:
        """True when most posts have no image at all (text features are the better choice then)."""
        posts = self.posts.assign(_p=post_keys(self.posts)).groupby("_p")["image_hash"].count()
        return bool((posts == 0).mean() > 0.5)

    def shares(self, period: str = "month") -> pd.DataFrame:
        """Each style's share of posts per period (long frame with style names)."""
        if period not in self._share_cache:
            table = trends.share_table(self.kept_posts(), period)
            names = dict(zip(self.styles["style"], self.styles["name"]))
            table["style_name"] = table["style"].map(names)
            self._share_cache[period] = table
        return self._share_cache[period]

    def top_styles(self, period: str = "month", n: int = 5, min_n: int = 0) -> pd.DataFrame:
        """The n largest styles per period; periods with fewer than min_n images are left out."""
        top = trends.top_styles(self.shares(period), n, min_n=min_n)
        names = dict(zip(self.styles["style"], self.styles["name"]))
        top["style_name"] = top["style"].map(names)
        return top


def share_weights(posts: pd.DataFrame, unit: str) -> np.ndarray:
    """What each styled look counts in a share: 1 per image ("images"), or 1 / (styled images of its
    post) so that every post counts once, split evenly over its images' styles ("posts")."""
    if unit not in SHARE_UNITS:
        raise ValueError(f"share unit must be one of {SHARE_UNITS}, got {unit!r}")
    styled = (posts["style"] >= 0).to_numpy()
    if unit == "images":
        return styled.astype(np.float64)
    per_post = pd.Series(styled, index=post_keys(posts).to_numpy()).groupby(level=0).transform("sum").to_numpy()
    return np.divide(styled, per_post, out=np.zeros(len(posts)), where=per_post > 0)


def load_view(store: Store, config: PipelineConfig | None = None, posts: pd.DataFrame | None = None,
              keys: StageKeys | None = None) -> StylesView | None:
    """The cached styles for these settings, or None when they were never computed."""
    config = config or config_from_settings(store)
    posts = store.load_posts() if posts is None else posts
    if posts.empty:
        return None
    keys = keys or stage_keys(store.dataset_key(), config)
    fused = store.get_artifact(keys.fusion)
    reduced = store.get_artifact(keys.reduce)
    fit = store.get_artifact(keys.fit)
    if fused is None or reduced is None or fit is None:
        return None
    fused_arrays = fused[0]
    fit_arrays, fit_meta = fit
    kept = fused_arrays["kept"]
    view_posts = posts.copy()
    view_posts["style"] = -1
    view_posts.loc[kept, "style"] = fit_arrays["labels"]
    text_styles = fit_arrays.get("assigned", np.full(len(kept), -1))
    assigned = text_styles >= 0
    view_posts.loc[assigned, "style"] = text_styles[assigned]
    view_posts["route"] = np.where(kept, "fitted", np.where(assigned, TEXT_ASSIGNED, "left out"))
    view_posts["weight"] = share_weights(view_posts, config.share_unit)
    default_names = fit_arrays["names"].astype(str)
    given = load_style_names(store, keys.fit)
    names = np.array([given.get(s, default) for s, default in enumerate(default_names)], dtype=object)
    view_posts["style_name"] = [names[s] if s >= 0 else "left out" for s in view_posts["style"]]
    map2d = reduced[0]["map2d"]
    view_posts["x"] = np.nan
    view_posts["y"] = np.nan
    view_posts.loc[kept, "x"] = map2d[:, 0]
    view_posts.loc[kept, "y"] = map2d[:, 1]
    view_posts["clothing_ratio"] = fused_arrays["clothing_ratio"]
    reasons = np.where(assigned, "", fused_arrays["reasons"].astype(str))
    view_posts["excluded"] = [r if r else None for r in reasons]
    sweep_art = store.get_artifact(keys.sweep)
    sweep = _frame(sweep_art[0]) if sweep_art else pd.DataFrame(
        columns=["k", "silhouette", "silhouette_std", "calinski_harabasz", "davies_bouldin", "seconds"])
    styles_table = pd.DataFrame({
        "style": np.arange(len(names)), "name": names.astype(str), "default_name": default_names,
        "size": fit_meta["sizes"],
        "keywords": ["、".join(kw) for kw in fit_meta["keywords"]],
        "phrases": ["、".join(ph) for ph in fit_meta.get("phrases", [[]] * len(names))],
        "exemplars": fit_meta["exemplars"]})
    return StylesView(view_posts, sweep, int(fit_meta["k"]), int(fit_meta["auto_k"]), styles_table,
                      keys.fit, keys, config)


# -- forecasting on the style panel ---------------------------------------------------------------
EMBEDDING_COMPONENTS = 2  # per-period mean image / text embedding is reduced to this many PCA dims


def _torch_threads() -> int | None:
    """One CPU thread for the small LSTM (more threads are slower on a busy 2-core machine);
    leave torch alone on a GPU."""
    import torch

    return None if torch.cuda.is_available() else 1


FORECAST_VERSION = "refit-1"  # forward forecasts from models refitted on every period (issue 10)


def forecast_key(view: StylesView, fcfg: ForecastConfig, saved: dict[str, list[str]] | None = None) -> str:
    """A forecast is keyed by the clustering it reads (and what its shares count), the saved selections
    forecast beside the styles and every forecasting setting."""
    unit = [] if view.config.share_unit == "images" else [view.config.share_unit]  # images: keys as before
    return fcfg.key(stable_hash("forecast", FORECAST_VERSION, view.clustering_key, view.keys.dataset, saved or {},
                                *unit))


def forecast_periods(store: Store, view: StylesView, period: str) -> int:
    """How many periods the style panel has at this period length (what the settings are derived from)."""
    return int(panel_shares(store, view, period)["period"].nunique())


def derived_forecast_config(store: Store, view: StylesView, base: ForecastConfig, **given: int | None) -> ForecastConfig:
    """base with W, G, H, test span and folds derived from the style panel's length wherever `given`
    leaves them None (forecast.defaults); a panel under 20 periods raises one message with the minimum."""
    from trend_core.forecast.defaults import derive_config

    return derive_config(forecast_periods(store, view, base.period), base, **given)


def _saved_selections(store: Store) -> dict[str, list[str]]:
    from trend_core import selections

    return selections.load_selections(store)


def panel_shares(store: Store, view: StylesView, period: str) -> pd.DataFrame:
    """The styles' share table plus one series per selection saved on the Map page (style ids from
    selections.SELECTION_STYLE_BASE), so a saved selection is forecast like a style."""
    from trend_core import selections

    shares = view.shares(period)
    saved = _saved_selections(store)
    if not saved:
        return shares
    extra = selections.selection_shares(view.kept_posts(), saved, period)
    return pd.concat([shares, extra[shares.columns]], ignore_index=True)


def _post_embeddings(store: Store, view: StylesView, modality: str) -> np.ndarray | None:
    """Rows aligned with view.kept_posts(): text vectors, or image vectors of the full photo ("image")
    or of the masked clothing ("mask"), computed now when the clustering did not need them (cached
    per image like every embedding); None when a kept post has no image."""
    kept = view.kept_posts()
    if modality == "text":
        arrays = store.get_artifact(view.keys.text)
        if arrays is None:
            return None
        return arrays[0]["matrix"][text_rows(arrays[0], kept)]
    if modality in IMAGE_BLOCKS:
        hashes = sorted({h for h in kept["image_hash"] if isinstance(h, str)})
        if kept["image_hash"].isna().any():
            return None
        masked = modality == "mask"
        if masked:
            run_segmentation(store, hashes, view.config, _quiet)
        run_image_embedding(store, hashes, view.config, masked, _quiet)
        vectors = store.load_image_vectors(hashes, image_set_key(view.config, masked))
        return np.stack([vectors[h] for h in kept["image_hash"]])
    raise ValueError(f"unknown embedding modality {modality!r}")


def embedding_covariates(store: Store, view: StylesView, modality: str, panel: pd.DataFrame,
                         fcfg: ForecastConfig) -> dict[str, pd.DataFrame]:
    """Per style and period, the mean embedding of its posts reduced by a PCA fitted on posts before
    the earliest fold's test span only (no leakage into any fold); one wide frame per component,
    named modality_1, modality_2..."""
    from sklearn.decomposition import PCA

    matrix = _post_embeddings(store, view, modality)
    if matrix is None:
        return {}
    kept = view.kept_posts()
    periods = trends.period_start(kept["post_date"], fcfg.period).to_numpy()
    test_origin = panel.index[max(0, len(panel.index) - max(1, fcfg.folds) * fcfg.test_periods)]
    train_rows = periods < np.datetime64(test_origin)
    if train_rows.sum() <= EMBEDDING_COMPONENTS:
        return {}
    pca = PCA(n_components=EMBEDDING_COMPONENTS, random_state=fcfg.seed).fit(matrix[train_rows])
    reduced = pca.transform(matrix)
    out = {}
    for c in range(EMBEDDING_COMPONENTS):
        frame = pd.DataFrame({"period": periods, "style": kept["style"].to_numpy(), "v": reduced[:, c]})
        table = frame.pivot_table(index="period", columns="style", values="v", aggfunc="mean")
        out[f"{modality}_{c + 1}"] = table.reindex(index=panel.index, columns=panel.columns).ffill().fillna(0.0)
    return out


def forecast_inputs(store: Store, view: StylesView, fcfg: ForecastConfig) -> tuple[pd.DataFrame, dict[str, pd.DataFrame], tuple[str, ...]]:
    """The style panel (period x style share), covariates and the expanded modality names."""
    shares = panel_shares(store, view, fcfg.period)
    panel = trends.wide(shares, "share")
    covariates: dict[str, pd.DataFrame] = {
        "count": np.log1p(trends.wide(shares, "count")),
        "engagement": trends.wide(shares, "engagement_share"),
    }
    modalities: list[str] = []
    for modality in fcfg.modalities:
        if modality in ("image", "mask", "text"):
            extra = embedding_covariates(store, view, modality, panel, fcfg)
            covariates.update(extra)
            modalities.extend(extra)
        else:
            modalities.append(modality)
    return panel, covariates, tuple(modalities)


@dataclass
class CachedForecast:
    """A forecasting run as stored: the tables the app and the CSV need."""

    key: str
    cached: bool
    metrics: pd.DataFrame
    forecasts: pd.DataFrame
    test_predictions: pd.DataFrame
    history: pd.DataFrame
    split: dict[str, str]
    info: dict[str, Any]
    config: ForecastConfig


_FORECAST_TABLES = ("metrics", "forecasts", "test_predictions", "history")


def _table_to_json(frame: pd.DataFrame) -> str:
    return frame.to_json(orient="split", date_format="iso", index=False)


def _table_from_json(text: str) -> pd.DataFrame:
    frame = pd.read_json(StringIO(text), orient="split")
    for column in ("period", "origin"):
        if column in frame:
            frame[column] = pd.to_datetime(frame[column]).dt.tz_localize(None)
    return frame


def _cached_forecast(key: str, stored: tuple[dict, dict[str, Any]], cached: bool,
                     fcfg: ForecastConfig) -> CachedForecast:
    meta = stored[1]
    tables = {name: _table_from_json(meta[name]) for name in _FORECAST_TABLES}
    return CachedForecast(key=key, cached=cached, split=meta["split"], info=meta.get("info", {}),
                          config=fcfg, **tables)


def load_forecast(store: Store, view: StylesView, fcfg: ForecastConfig,
                  saved: dict[str, list[str]] | None = None) -> CachedForecast | None:
    """The stored forecast for this clustering and these settings, or None when never trained.
    saved: the saved map selections when the caller has read them already."""
    key = forecast_key(view, fcfg, _saved_selections(store) if saved is None else saved)
    stored = store.get_artifact(key)
    return None if stored is None else _cached_forecast(key, stored, True, fcfg)


def run_forecast(store: Store, view: StylesView, fcfg: ForecastConfig | None = None,
                 progress: Progress | None = None, on_epoch: Callable[[dict], None] | None = None,
                 device: str | None = None) -> CachedForecast:
    """Train the neural model and baselines on the style panel (cached by key) and return the results.
    on_epoch(row) receives each epoch's losses while training (live loss curves)."""
    from trend_core.forecast import run_forecast as forecast_panel

    fcfg = fcfg or ForecastConfig()
    saved = _saved_selections(store)
    found = load_forecast(store, view, fcfg, saved)
    if found is not None:
        if progress:
            progress(1.0, "cached: same data and settings were trained before")
        return found
    panel, covariates, modalities = forecast_inputs(store, view, fcfg)
    result = forecast_panel(panel, covariates, replace(fcfg, modalities=modalities), progress,
                            trend=view.config.trends, threads=_torch_threads(), on_epoch=on_epoch, device=device,
                            upper_bound=1.0)  # shares: forecasts and intervals within [0, 1]
    key = forecast_key(view, fcfg, saved)
    store_forecast(store, key, result, {"selection_names": _selection_names(saved)})
    return _cached_forecast(key, store.get_artifact(key), False, fcfg)


def store_forecast(store: Store, key: str, result: Any, extra_info: dict[str, Any] | None = None) -> None:
    """Put a forecast run (tables, split, info, model checkpoint) into the store under its key."""
    meta = {name: _table_to_json(_all_forecasts(result) if name == "forecasts" else getattr(result, name))
            for name in _FORECAST_TABLES}
    meta.update(split=result.split, info=result.info | (extra_info or {}))
    store.put_artifact(key, "forecast", {"state": np.frombuffer(result.state, dtype=np.uint8)}, meta)


def _all_forecasts(result: Any) -> pd.DataFrame:
    """The neural model's forward forecast followed by every baseline's (one frame, `model` column)."""
    frames = [f for f in (result.forecasts, result.baseline_forecasts) if f is not None and not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else result.forecasts


def ablation_key(view: StylesView, fcfg: ForecastConfig, saved: dict[str, list[str]] | None = None) -> str:
    """The modality ablation of a forecast setting: same data and settings, another product."""
    return stable_hash("ablation", forecast_key(view, fcfg, saved))


def run_ablation(store: Store, view: StylesView, fcfg: ForecastConfig, progress: Progress | None = None,
                 cached_only: bool = False) -> pd.DataFrame | None:
    """The neural model on every subset of fcfg.modalities (same folds and split) beside the baselines,
    cached like a forecast; cached_only=True returns None instead of training."""
    from trend_core.forecast.ablation import run_ablation as ablate

    key = ablation_key(view, fcfg, _saved_selections(store))
    stored = store.get_artifact(key)
    if stored is not None:
        return _table_from_json(stored[1]["table"])
    if cached_only:
        return None
    panel, covariates, modalities = forecast_inputs(store, view, fcfg)
    table = ablate(panel, covariates, replace(fcfg, modalities=modalities), progress, trend=view.config.trends,
                   threads=_torch_threads())
    store.put_artifact(key, "ablation", {}, {"table": _table_to_json(table)})
    return table


def _selection_names(saved: dict[str, list[str]]) -> dict[str, str]:
    """Series id (as text) -> name of each saved selection forecast beside the styles."""
    from trend_core import selections

    return {str(sid): name for name, sid in selections.selection_style_ids(saved).items()}


def forecast_series_names(result: CachedForecast, view: StylesView) -> dict[str, str]:
    """Series id (as text) -> display name: style names, and saved selections marked ★."""
    names = dict(zip(view.styles["style"].astype(str), view.styles["name"].astype(str)))
    return names | {sid: f"★ {name}" for sid, name in result.info.get("selection_names", {}).items()}


def forecast_verdict(result: CachedForecast):
    """Which model to use for this panel (forecast.verdict): the best learned model when it beats the
    best baseline's backtest MASE by the margin, else that baseline."""
    from trend_core.forecast.verdict import choose_model

    return choose_model(result.metrics)


def _model_rows(result: CachedForecast, model: str | None) -> pd.DataFrame:
    """The forward forecast rows of one model (default: the verdict's choice)."""
    frame = result.forecasts.copy()
    model = model or forecast_verdict(result).model
    if "model" in frame and (frame["model"] == model).any():
        frame = frame[frame["model"] == model]
    return frame


def _train_span(split: dict[str, str]) -> tuple[str | None, str | None]:
    """The span the forward forecast's model was fitted on (older runs: the last fold's)."""
    return (split.get("forward_train_start", split.get("train_start")),
            split.get("forward_train_end", split.get("train_target_end")))


def forecast_csv(result: CachedForecast, view: StylesView, model: str | None = None) -> str:
    """The analyst export (forecast.export): one row per style and horizon step of one model (default:
    the verdict's choice) with the style's name as the app shows it, period start, share and interval
    in percent, P(hot), trend, model, then the keys and the training span."""
    from trend_core.forecast.export import analyst_csv, analyst_frame

    start, end = _train_span(result.split)
    frame = analyst_frame(_model_rows(result, model), forecast_series_names(result, view), result.config.period,
                          data_key=view.clustering_key, model_key=result.key, train_start=start, train_end=end)
    return analyst_csv(frame)


def forecast_file_name(store: Store, result: CachedForecast, model: str | None = None) -> str:
    """forecast_<database>_<model>_<date of the last period>.csv."""
    from trend_core.forecast.export import file_name

    model = model or forecast_verdict(result).model
    return file_name(store.path, model, result.info.get("forward", {}).get("origin") or _train_span(result.split)[1])


def _with_keys(frame: pd.DataFrame, data_key: str, model_key: str, split: dict[str, str]) -> str:
    """CSV text with ISO periods and the provenance columns every forecast export carries."""
    frame = frame.copy()
    frame["period"] = pd.to_datetime(frame["period"]).dt.strftime("%Y-%m-%d")
    frame["data_key"] = data_key
    frame["model_key"] = model_key
    frame["train_start"], frame["train_end"] = _train_span(split)
    return frame.to_csv(index=False, float_format="%.6g")


# -- forecasting external series (a CSV of series, not styles) ------------------------------------
def external_data_key(series: pd.DataFrame, covariates: dict[str, pd.DataFrame]) -> str:
    """The contents (names, dates, values) of imported series and their covariates."""
    def digest(frame: pd.DataFrame) -> str:
        return stable_hash(list(map(str, frame.columns)), [str(d) for d in frame.index],
                           pd.util.hash_pandas_object(frame, index=False).tolist())

    return stable_hash("external", digest(series), {k: digest(v) for k, v in sorted(covariates.items())})


def run_external_forecast(store: Store, series: pd.DataFrame, covariates: dict[str, pd.DataFrame] | None,
                          fcfg: ForecastConfig, progress: Progress | None = None,
                          on_epoch: Callable[[dict], None] | None = None, season: int | None = None,
                          device: str | None = None) -> CachedForecast:
    """The style-panel engine (backtest folds, baselines, forward forecast) on imported series, with
    the covariates as extra inputs (fcfg.modalities names which); cached in the store by content."""
    from trend_core.forecast import run_forecast as forecast_panel

    covariates = covariates or {}
    data_key = external_data_key(series, covariates)
    key = fcfg.key(stable_hash(FORECAST_VERSION, data_key))  # the series' contents and every setting
    stored = store.get_artifact(key)
    if stored is not None:
        if progress:
            progress(1.0, "cached: same series and settings were trained before")
        return _cached_forecast(key, stored, True, fcfg)
    result = forecast_panel(series, covariates, fcfg, progress, season=season, threads=_torch_threads(),
                            on_epoch=on_epoch, device=device)
    store_forecast(store, key, result, {"source": "external", "data_key": data_key})
    return _cached_forecast(key, store.get_artifact(key), False, fcfg)


def external_forecast_csv(result: CachedForecast, model: str | None = None) -> str:
    """One row per series and horizon step of one model, with the data and model keys and the span."""
    return _with_keys(_model_rows(result, model), result.info.get("data_key", ""), result.key, result.split)
