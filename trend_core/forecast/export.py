"""The forecast export for analysts: one row per style and horizon step, names as the app shows them,
shares in percent, the period's start date, then the provenance (keys, training span).

Columns (EXPORT_COLUMNS):
- style: the style's name as shown in the app (saved map selections marked ★), style_id: its id;
- period_start: ISO date of the forecast period's start (the Monday of a week, the 1st of a month);
- step: 1..H periods after the last period of the data;
- share_pct, lower_pct, upper_pct: the forecast share and its interval in percent (2 decimals, within
  0..100);
- p_hot: probability that the style is among the hot ones that period (3 decimals);
- trend: rising / flat / falling, the forecast mean over the horizon against the mean of the last W
  periods (+-5 % relative, the style's own change);
- model: the model that made the row (by default the backtest verdict's choice);
- data_key, model_key: what the forecast was made from and under which settings;
- train_start, train_end: the span the forecasting model was (re)fitted on (train_end = the last period).
"""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from trend_core import trends

EXPORT_COLUMNS = ["style", "period_start", "step", "share_pct", "lower_pct", "upper_pct", "p_hot", "trend", "model",
                  "style_id", "data_key", "model_key", "train_start", "train_end"]


def analyst_frame(forecasts: pd.DataFrame, names: dict[str, str], period: str | None, *, data_key: str,
                  model_key: str, train_start: str | None, train_end: str | None) -> pd.DataFrame:
    """forecasts (forecast.evaluate.FORECAST_COLUMNS rows of one model) in the analyst layout.
    names: series id as text -> display name; period: 'day' | 'week' | 'month' (period starts are
    normalised to it), None to keep the dates."""
    frame = forecasts.sort_values(["series", "step"], kind="stable").reset_index(drop=True)
    ids = frame["series"].astype(str)
    dates = pd.to_datetime(frame["period"])
    if period in trends.PERIODS:
        dates = trends.period_start(dates, period)
    pct = lambda column: (100.0 * pd.to_numeric(frame[column], errors="coerce").clip(0.0, 1.0)).round(2)  # noqa: E731
    out = pd.DataFrame({
        "style": ids.map(lambda s: names.get(s, s)),
        "period_start": pd.DatetimeIndex(dates).strftime("%Y-%m-%d"),
        "step": frame["step"].astype(int),
        "share_pct": pct("point"), "lower_pct": pct("lower"), "upper_pct": pct("upper"),
        "p_hot": pd.to_numeric(frame["p_hot"], errors="coerce").round(3),
        "trend": frame["trend_class"].astype(str),
        "model": frame["model"].astype(str),
        "style_id": ids,
        "data_key": data_key, "model_key": model_key, "train_start": train_start, "train_end": train_end,
    })
    return out[EXPORT_COLUMNS]


def analyst_csv(frame: pd.DataFrame) -> str:
    """CSV text with the percentages written with exactly 2 decimals."""
    out = frame.copy()
    for column in ("share_pct", "lower_pct", "upper_pct"):
        out[column] = out[column].map(lambda v: "" if pd.isna(v) else f"{v:.2f}")
    out["p_hot"] = out["p_hot"].map(lambda v: "" if pd.isna(v) else f"{v:.3f}")
    return out.to_csv(index=False)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "data"


def file_name(db: str | Path | None, model: str, date: str | pd.Timestamp | None) -> str:
    """forecast_<database>_<model>_<date>.csv: the database file's stem, the model and the date of
    the last period the model saw (the forecast's origin)."""
    stem = Path(str(db)).stem if db else "data"
    day = pd.Timestamp(date).date().isoformat() if date is not None and str(date) else "undated"
    return f"forecast_{_slug(stem)}_{_slug(model)}_{day}.csv"
