"""Which model to use for a panel, in plain words, from the pooled backtest.

Rule: among the baselines (forecast.baselines.BASELINES: last value, moving average, seasonal naive,
drift, ETS) take the one with the lowest pooled backtest MASE; among the learned models (the network
and the ensemble, which contains it) the one with the lowest MASE. The learned model is chosen only
when it beats the best baseline by at least MARGIN (relative: model MASE <= (1 - MARGIN) x baseline
MASE); otherwise the best baseline is, since a smaller win on a few test windows is noise more often
than skill. Every score comes from the rolling-origin backtest inside the data's span (no span after
the data is looked at). MAE replaces MASE when MASE is missing (e.g. constant series).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from trend_core.forecast.baselines import BASELINES

MARGIN = 0.02        # a learned model must beat the best baseline's MASE by 2 % to be chosen
NOT_FORECASTERS = ("majority",)  # class-only reference rows, no point forecast
LABELS = {"last_value": "last value", "moving_average": "moving average", "seasonal_naive": "seasonal naive",
          "drift": "drift", "ets": "ETS (Holt-Winters)", "ensemble": "ensemble (network + ETS)",
          "lstm": "LSTM", "attention": "attention LSTM"}


def label(model: str) -> str:
    """A model's name in words."""
    return LABELS.get(model, model)


@dataclass(frozen=True)
class Verdict:
    model: str                 # the model to use (and to export by default)
    kind: str                  # "model" | "baseline"
    best_model: str | None     # the best learned model on the backtest
    best_baseline: str | None  # the best baseline on the backtest
    metric: str                # "mase" (or "mae" when MASE is missing)
    model_score: float
    baseline_score: float
    improvement: float         # 1 - model / baseline (positive: the learned model is better)
    margin: float
    n_windows: int

    @property
    def text(self) -> str:
        """The verdict in plain words (markdown)."""
        m, b = self.best_model, self.best_baseline
        name = self.metric.upper()
        windows = f"{self.n_windows:,} test windows" if self.n_windows else "the test windows"
        if b is None:
            return f"Use **{label(self.model)}**: no baseline was scored on the backtest."
        if m is None:
            return f"Use **{label(self.model)}**: the best baseline on the backtest ({name} {self.baseline_score:.3f})."
        diff = f"{abs(self.improvement):.1%} {'better' if self.improvement >= 0 else 'worse'}"
        if self.kind == "model":
            return (f"Use **{label(m)}** for this panel: on the backtest ({windows}) its {name} is "
                    f"{self.model_score:.3f}, {diff} than the best baseline, {label(b)} ({self.baseline_score:.3f}), "
                    f"which clears the {self.margin:.0%} margin.")
        return (f"Use **{label(b)}** for this panel: no model beats it by the {self.margin:.0%} margin on the "
                f"backtest ({windows}). Best model: {label(m)}, {name} {self.model_score:.3f} against "
                f"{self.baseline_score:.3f}, {diff}. The simple baseline is the honest choice here.")


def _finite(value: object) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def choose_model(metrics: pd.DataFrame, margin: float = MARGIN, metric: str = "mase") -> Verdict:
    """The verdict of one backtest's metrics table (one row per model; see the module doc)."""
    rows = metrics[~metrics["model"].astype(str).isin(NOT_FORECASTERS)].copy()
    rows["model"] = rows["model"].astype(str)
    if metric not in rows or not rows[metric].map(_finite).any():
        metric = "mae"
    rows = rows[rows[metric].map(_finite)]
    if rows.empty:
        raise ValueError("no model has a backtest score to choose by")
    is_base = rows["model"].isin(list(BASELINES))
    base = rows[is_base].sort_values(metric, kind="stable")
    learned = rows[~is_base].sort_values(metric, kind="stable")
    n = int(metrics["n_windows"].max()) if "n_windows" in metrics and len(metrics) else 0
    b = base.iloc[0] if len(base) else None
    m = learned.iloc[0] if len(learned) else None
    b_score = float(b[metric]) if b is not None else float("nan")
    m_score = float(m[metric]) if m is not None else float("nan")
    improvement = 1.0 - m_score / b_score if b is not None and m is not None and b_score > 0 else float("nan")
    if m is not None and (b is None or m_score <= (1.0 - margin) * b_score):
        chosen, kind = m["model"], "model"
    else:
        chosen, kind = b["model"], "baseline"
    return Verdict(chosen, kind, None if m is None else m["model"], None if b is None else b["model"], metric,
                   m_score, b_score, improvement, margin, n)
