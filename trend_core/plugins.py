"""The swappable parts the analyst picks (segmenter, image encoder, text method), whether each can run
on this machine, and the configuration actually used once unavailable parts fall back to the
weights-free ones (with a notice saying so)."""
from __future__ import annotations

from dataclasses import dataclass, replace

from trend_core.config import PipelineConfig

__all__ = ["Choice", "FALLBACK", "segmenter_choices", "encoder_choices", "text_choices", "effective_config"]

# weights-free defaults every machine can run
FALLBACK = {"segmenter": "border", "encoder": "handcrafted", "text": "tfidf"}


@dataclass(frozen=True)
class Choice:
    """One registered plug-in: its registry name, a line for the UI, and why it cannot run (None: it can)."""

    name: str
    description: str
    problem: str | None

    @property
    def available(self) -> bool:
        return self.problem is None


def segmenter_choices() -> list[Choice]:
    from trend_core.segment import SEGMENTERS, segmenter_status

    return [Choice(name, getattr(cls, "description", name), segmenter_status(name))
            for name, cls in SEGMENTERS.items()]


def encoder_choices() -> list[Choice]:
    from trend_core.embed.image import IMAGE_EMBEDDERS, encoder_status

    return [Choice(name, getattr(cls, "description", name), encoder_status(name))
            for name, cls in IMAGE_EMBEDDERS.items()]


TEXT_METHODS = {
    "tfidf": "TF-IDF over jieba tokens, reduced by SVD (weights-free)",
    "word2vec": "word2vec trained on this corpus (gensim), IDF-weighted mean per post",
    "sentence": "sentence-transformers model (needs its weights on this machine)",
}


def text_choices(config: PipelineConfig | None = None) -> list[Choice]:
    from trend_core.embed.text import text_method_status

    cfg = (config or PipelineConfig()).text
    return [Choice(name, line, text_method_status(name, cfg)) for name, line in TEXT_METHODS.items()]


def _problem(choices: list[Choice], name: str, what: str) -> str | None:
    for choice in choices:
        if choice.name == name:
            return choice.problem
    return f"unknown {what} {name!r}; choose from {[c.name for c in choices]}"


def effective_config(config: PipelineConfig, fallback: bool = True) -> tuple[PipelineConfig, list[str]]:
    """The configuration that can run here and one notice per part that fell back.

    Only parts the configuration uses are checked (no segmenter / encoder check when no image block
    is fused; the text method always). With fallback=False an unavailable part raises its reason as a FileNotFoundError
    (missing weights) or ValueError (unknown name)."""
    notices: list[str] = []
    uses_images = bool({"image", "mask"} & set(config.fusion.modalities))
    checks = []
    if uses_images:
        checks.append(("segmenter", config.segment.method, segmenter_choices,
                       lambda c, n: replace(c, segment=c.segment.replace(method=n))))
        checks.append(("encoder", config.image.encoder, encoder_choices,
                       lambda c, n: replace(c, image=c.image.replace(encoder=n))))
    # text features are always computed (keywords and key phrases describe every style)
    checks.append(("text", config.text.method, lambda: text_choices(config),
                   lambda c, n: replace(c, text=c.text.replace(method=n))))
    for what, name, choices, swap in checks:
        problem = _problem(choices(), name, what)
        if problem is None:
            continue
        label = {"segmenter": "segmenter", "encoder": "image encoder", "text": "text method"}[what]
        if not fallback:
            raise (ValueError if problem.startswith("unknown") else FileNotFoundError)(
                f"{label} {name!r} cannot run here: {problem}")
        config = swap(config, FALLBACK[what])
        notices.append(f"The {label} {name!r} cannot run here ({problem}); the weights-free "
                       f"{FALLBACK[what]!r} is used instead.")
    return config, notices
