"""Text hygiene on a real crawl (../shared/real/xhs_posts_text.csv): styles fitted on the posts' text
name no blank-cell word, platform boilerplate, emoji code name or number (issue 10.3)."""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from trend_core import text
from trend_core.config import FusionConfig, PipelineConfig, StyleConfig
from trend_core.ingest import ingest_file
from trend_core.pipeline import run_pipeline
from trend_core.store import Store

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "real"
POSTS_TEXT = REAL / "xhs_posts_text.csv"

pytestmark = pytest.mark.skipif(not POSTS_TEXT.exists(),
                                reason=f"the shared real crawl is missing ({POSTS_TEXT} not found)")

CODE_RE = re.compile(r":([A-Za-z0-9_\-+&.'’()!#*]+):")
BASE_NOISE = {"nan", "none", "null", "link", "链接", "小红书", "笔记灵感", "灵感"}


def _contents() -> list[str]:
    return pd.read_csv(POSTS_TEXT, dtype=str, keep_default_na=False)["post_content"].tolist()


def _noise(contents: list[str]) -> set[str]:
    """The base list, every ':code:' name in the file (as written, with spaces, lower-cased) and each
    word of a code name that the file never uses outside a code (the 'bear' of ':teddy_bear:')."""
    codes = {c for s in contents for c in CODE_RE.findall(s)}
    assert {"money_bag", "volleyball", "link", "teddy_bear"} <= codes  # the file still has its codes
    outside = " ".join(CODE_RE.sub(" ", s) for s in contents).lower()
    words = {w for c in codes for w in re.split(r"[_\-\s]+", c.lower()) if len(w) > 1}
    noise = set(BASE_NOISE)
    noise |= {c.lower() for c in codes} | {re.sub(r"[_\-]", " ", c.lower()) for c in codes}
    noise |= {w for w in words if not re.search(rf"(?<![a-z]){re.escape(w)}(?![a-z])", outside)}
    return noise


def _noisy(value: str, noise: set[str]) -> list[str]:
    """Noise found in one name / keyword / phrase: Latin words whole, Chinese ones as substrings, and
    pure numbers or number+unit words."""
    low = value.lower()
    hits = [n for n in noise if (n in low if re.search(r"[^\x00-\x7f]", n)
                                 else re.search(rf"(?<![a-z]){re.escape(n)}(?![a-z])", low))]
    parts = [p for p in re.split(r"[\s·、|]+", low) if p]
    hits += [p for p in parts if re.fullmatch(r"[+\-]?\d[\d.,%]*(?:[a-z]{1,3}|[年月日号岁斤元块])?", p)]
    return hits


@pytest.fixture(scope="module")
def real_view(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("real_text") / "real.duckdb")
    summary = ingest_file(store, POSTS_TEXT)
    assert summary["accepted"] > 200
    config = PipelineConfig(fusion=FusionConfig(modalities=("text", "engagement")),
                            styles=StyleConfig(k_min=2, k_max=6))
    return store, config, run_pipeline(store, config).view


def test_every_post_token_and_phrase_is_clean():
    contents = _contents()
    noise = _noise(contents)
    stop = text.load_stopwords()
    bad = {}
    for content in contents:
        phrases = [text.phrase_text(p) for p in text.phrase_candidates(content)]
        for item in text.tokenize(content, stop) + phrases:
            if _noisy(item, noise):
                bad[item] = _noisy(item, noise)
    assert not bad, f"noise in post tokens / phrases: {sorted(bad.items())[:20]}"


def test_styles_fitted_on_real_text_name_no_noise(real_view):
    store, config, view = real_view
    noise = _noise(_contents())
    assert len(view.styles) >= 2
    found: dict[str, list[str]] = {}
    views = [view.styles]
    for k in (4, 6):  # more, smaller styles show more keywords; only the fit stage reruns
        cfg = PipelineConfig(fusion=config.fusion, styles=StyleConfig(k_min=2, k_max=6, k=k))
        views.append(run_pipeline(store, cfg).view.styles)
    for styles in views:
        for column in ("name", "keywords", "phrases"):
            for value in styles[column]:
                values = value if isinstance(value, (list, tuple)) else [value]
                for item in values:
                    hits = _noisy(str(item), noise)
                    if hits:
                        found[f"{column}: {item}"] = hits
    assert not found, f"noise in style names / keywords / phrases: {found}"
