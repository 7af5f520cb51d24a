"""Style share series: period bucketing, share tables, top styles and forecasting labels.

The unit of forecasting is a style's share series (style x period). Labels follow docs/ARCHITECTURE.md
and DESIGN.md: the future share at the horizon, *hot* (the share is among the top (1 - hot_quantile) of
styles in that period) and a trend class (rising / flat / falling: the mean share over the target span
against the mean over the input window, +-trend_threshold relative), plus a tercile variant.
"""
from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd

from trend_core.config import TrendConfig

PERIODS = ("day", "week", "month")
PERIOD_FREQ = {"day": "D", "week": "W-MON", "month": "MS"}  # date_range frequency of period starts
TREND_NAMES = {-1: "falling", 0: "flat", 1: "rising"}
SHARE_COLUMNS = ["period", "style", "count", "total", "share", "engagement", "engagement_share"]
ENGAGEMENT_COLUMNS = ("likes", "collects", "comments")


def _check_period(period: str) -> str:
    if period not in PERIODS:
        raise ValueError(f"period must be one of {PERIODS}, got {period!r}")
    return period


def period_start(dates: pd.Series, period: str) -> pd.Series:
    """Start of the period each date falls in: the day itself, the Monday of its week, or the first
    day of its month (datetime64[ns], time of day dropped; NaT stays NaT)."""
    _check_period(period)
    values = pd.to_datetime(pd.Series(dates), errors="coerce").astype("datetime64[ns]").dt.normalize()
    if period == "day":
        return values
    if period == "week":
        return values - pd.to_timedelta(values.dt.day_of_week, unit="D")
    return values.dt.to_period("M").dt.start_time.astype("datetime64[ns]")


def period_range(start: pd.Timestamp, end: pd.Timestamp, period: str) -> pd.DatetimeIndex:
    """Every period start from start to end inclusive (both already period starts)."""
    return pd.date_range(pd.Timestamp(start), pd.Timestamp(end), freq=PERIOD_FREQ[_check_period(period)],
                         unit="ns")


def _kept(styles: pd.Series) -> pd.Series:
    """Posts that belong to a style: not null and, for numeric ids, not negative ('left out')."""
    keep = styles.notna()
    if pd.api.types.is_numeric_dtype(styles):
        keep &= styles >= 0
    return keep


def share_table(posts: pd.DataFrame, period: str = "month", styles: Iterable | None = None) -> pd.DataFrame:
    """Long table `period, style, count, total, share, engagement, engagement_share`.

    Every style x period of the full regular period range is present (zeros filled). Posts whose style
    is negative (left out) or missing are excluded before shares are computed, so in every period with
    posts the shares sum to 1 over styles. engagement = likes + collects + comments summed over the
    style's posts; engagement_share = the style's engagement / the period's total engagement (0 when the
    period has no engagement). Periods without any posts have total 0 and share 0.
    `styles` adds styles that have no posts at all (as zero rows).
    """
    frame = posts.loc[_kept(posts["style"])] if len(posts) else posts
    dates = period_start(frame["post_date"], period) if len(frame) else pd.Series([], dtype="datetime64[ns]")
    frame = frame.assign(_period=dates.to_numpy()).loc[dates.notna().to_numpy()]
    wanted = list(styles) if styles is not None else []
    style_values = sorted(set(frame["style"].tolist()) | set(wanted))
    if frame.empty or not style_values:
        return pd.DataFrame({c: pd.Series([], dtype="datetime64[ns]" if c == "period" else
                                          ("float64" if "share" in c else "int64")) for c in SHARE_COLUMNS})
    engagement = np.zeros(len(frame), dtype=np.int64)
    for column in ENGAGEMENT_COLUMNS:
        if column in frame:
            engagement += pd.to_numeric(frame[column], errors="coerce").fillna(0).to_numpy(dtype=np.int64)
    frame = frame.assign(_engagement=engagement)
    grouped = frame.groupby(["_period", "style"], sort=True).agg(count=("_period", "size"),
                                                                  engagement=("_engagement", "sum"))
    periods = period_range(frame["_period"].min(), frame["_period"].max(), period)
    full = pd.MultiIndex.from_product([periods, style_values], names=["_period", "style"])
    table = grouped.reindex(full, fill_value=0).reset_index().rename(columns={"_period": "period"})
    table["count"] = table["count"].astype(np.int64)
    table["engagement"] = table["engagement"].astype(np.int64)
    table["total"] = table.groupby("period")["count"].transform("sum").astype(np.int64)
    eng_total = table.groupby("period")["engagement"].transform("sum")
    table["share"] = np.where(table["total"] > 0, table["count"] / table["total"].clip(lower=1), 0.0)
    table["engagement_share"] = np.where(eng_total > 0, table["engagement"] / eng_total.clip(lower=1), 0.0)
    table["period"] = table["period"].astype("datetime64[ns]")
    return table[SHARE_COLUMNS].reset_index(drop=True)


def wide(shares: pd.DataFrame, value: str = "share") -> pd.DataFrame:
    """Pivot a long share table to period x style (sorted, zeros filled)."""
    table = shares.pivot_table(index="period", columns="style", values=value, aggfunc="sum", fill_value=0)
    table = table.sort_index().sort_index(axis=1)
    table.columns.name = "style"
    return table.astype(float)


def top_styles(shares: pd.DataFrame, n: int = 5) -> pd.DataFrame:
    """The n styles with the largest share per period: `period, rank, style, share, count` (rank 1 =
    largest; ties by style id; styles with zero share are not ranked)."""
    frame = shares.loc[shares["share"] > 0]
    ordered = frame.sort_values(["period", "share", "style"], ascending=[True, False, True])
    ordered = ordered.assign(rank=ordered.groupby("period").cumcount() + 1)
    out = ordered.loc[ordered["rank"] <= n, ["period", "rank", "style", "share", "count"]]
    out = out.reset_index(drop=True)
    out["rank"] = out["rank"].astype(np.int64)
    return out


# -- labels ----------------------------------------------------------------------------------------
def n_hot(n_series: int, hot_quantile: float) -> int:
    """How many series are hot per period: the top (1 - q) of them, at least one."""
    return max(1, int(math.ceil(round((1.0 - hot_quantile) * n_series, 9))))


def hot_mask(wide_shares: pd.DataFrame | np.ndarray, hot_quantile: float = 0.8) -> pd.DataFrame | np.ndarray:
    """Per period (row), True for the series whose share is at least the k-th largest share that period
    (k = n_hot) and above zero. Ties at the threshold are all hot."""
    values = np.asarray(wide_shares, dtype=float)
    k = n_hot(values.shape[1], hot_quantile)
    filled = np.where(np.isnan(values), -np.inf, values)
    threshold = -np.sort(-filled, axis=1)[:, k - 1:k]
    mask = (filled >= threshold) & (filled > 0)
    if isinstance(wide_shares, pd.DataFrame):
        return pd.DataFrame(mask, index=wide_shares.index, columns=wide_shares.columns)
    return mask


def trend_class(input_mean: np.ndarray, target_mean: np.ndarray, threshold: float = 0.05) -> np.ndarray:
    """+1 rising / 0 flat / -1 falling: target mean against input mean, +-threshold relative.
    From an input mean of zero any positive target counts as rising."""
    base = np.asarray(input_mean, dtype=float)
    target = np.asarray(target_mean, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        change = np.where(base > 0, target / np.where(base > 0, base, 1.0) - 1.0,
                          np.where(target > 0, np.inf, 0.0))
    return np.where(change > threshold, 1, np.where(change < -threshold, -1, 0)).astype(np.int64)


def relative_change(input_mean: np.ndarray, target_mean: np.ndarray) -> np.ndarray:
    """target / input - 1 (inf when the input mean is 0 and the target is not, 0 when both are)."""
    base = np.asarray(input_mean, dtype=float)
    target = np.asarray(target_mean, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(base > 0, target / np.where(base > 0, base, 1.0) - 1.0, np.where(target > 0, np.inf, 0.0))


def tercile_class(change: np.ndarray) -> np.ndarray:
    """Per row, the top third of series by relative change -> +1, the bottom third -> -1, else 0."""
    change = np.asarray(change, dtype=float)
    pct = pd.DataFrame(change).rank(axis=1, pct=True, method="average").to_numpy()
    return np.where(pct > 2.0 / 3.0, 1, np.where(pct <= 1.0 / 3.0, -1, 0)).astype(np.int64)


def label_panel(shares: pd.DataFrame, cfg: TrendConfig | None = None, horizon: int = 1,
                window: int | None = None, gap: int = 0) -> dict[str, pd.DataFrame]:
    """Labels for every forecast origin t of a wide share panel (period x style).

    The input window is periods t-window+1..t (window defaults to horizon), the target span
    t+gap+1..t+gap+horizon. Returns wide frames indexed by the origin period, only for origins with a
    full window and a full target span:
    - `future_share`: the share at t+gap+horizon; `target_mean` / `input_mean`: span means;
    - `hot`: bool, the style is hot (top 1 - hot_quantile) in period t+gap+horizon;
    - `change`: target_mean / input_mean - 1;
    - `trend_class`: 'rising' / 'flat' / 'falling' by +-trend_threshold on `change`;
    - `trend_tercile`: the same names from the terciles of `change` across styles at that origin.
    """
    cfg = cfg or TrendConfig()
    window = window or horizon
    if horizon < 1 or window < 1 or gap < 0:
        raise ValueError("horizon and window must be >= 1 and gap >= 0")
    panel = shares.sort_index()
    values = panel.to_numpy(dtype=float)
    n = len(values)
    origins = np.arange(window - 1, n - gap - horizon)
    columns = panel.columns
    index = panel.index[origins] if len(origins) else panel.index[:0]
    if len(origins) == 0:
        empty = pd.DataFrame(index=index, columns=columns, dtype=float)
        return {k: empty.copy() for k in ("future_share", "target_mean", "input_mean", "change", "hot",
                                          "trend_class", "trend_tercile")}
    csum = np.vstack([np.zeros((1, values.shape[1])), np.cumsum(values, axis=0)])
    input_mean = (csum[origins + 1] - csum[origins + 1 - window]) / window
    first, last = origins + gap + 1, origins + gap + horizon
    target_mean = (csum[last + 1] - csum[first]) / horizon
    future = values[last]
    hot = hot_mask(values, cfg.hot_quantile)[last]
    change = relative_change(input_mean, target_mean)
    names = np.vectorize(TREND_NAMES.get, otypes=[object])

    def frame(data: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(data, index=index, columns=columns)

    return {
        "future_share": frame(future), "target_mean": frame(target_mean), "input_mean": frame(input_mean),
        "change": frame(change), "hot": frame(hot.astype(bool)),
        "trend_class": frame(names(trend_class(input_mean, target_mean, cfg.trend_threshold))).astype("str"),
        "trend_tercile": frame(names(tercile_class(change))).astype("str"),
    }
