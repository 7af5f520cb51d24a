"""Style share series: period bucketing, share tables, top styles, confidence bands, lifespans and
forecasting labels.

The unit of forecasting is a style's share series (style x period). Labels follow docs/ARCHITECTURE.md
and DESIGN.md: the future share at the horizon, *hot* (the share is among the top (1 - hot_quantile) of
styles in that period) and a trend class (rising / flat / falling: the mean share over the target span
against the mean over the input window, +-trend_threshold relative), plus a tercile variant.
Bands are Wilson intervals of a share read as a binomial proportion (engagement shares: with Kish's
effective number of posts); a lifespan is a run of periods in which a style's share stays above a threshold.
"""
from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd

from trend_core.config import TrendConfig

PERIODS = ("day", "week", "month")
PERIOD_FREQ = {"day": "D", "week": "W-MON", "month": "MS"}  # date_range frequency of period starts
TREND_NAMES = {-1: "falling", 0: "flat", 1: "rising"}  # a style's own share: change beyond +-threshold
# the same change ranked among the styles of one origin: a relative class, named so that it never
# reads as the absolute one (a style can be in the top third while its share falls, when all fall)
TERCILE_NAMES = {-1: "bottom third", 0: "middle third", 1: "top third"}
SHARE_COLUMNS = ["period", "style", "count", "total", "share", "engagement", "engagement_share", "n"]
ENGAGEMENT_COLUMNS = ("likes", "collects", "comments")
WEIGHT_COLUMN = "weight"  # optional per-row weight: 1 per image (default), 1 / images of the post to count posts


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


def post_engagement(posts: pd.DataFrame) -> np.ndarray:
    """likes + collects + comments per post (int64; missing columns or values count as 0)."""
    engagement = np.zeros(len(posts), dtype=np.int64)
    for column in ENGAGEMENT_COLUMNS:
        if column in posts:
            engagement += pd.to_numeric(posts[column], errors="coerce").fillna(0).to_numpy(dtype=np.int64)
    return engagement


def row_weights(posts: pd.DataFrame) -> np.ndarray | None:
    """The frame's `weight` column as float (missing values count 1), or None when it has none."""
    if WEIGHT_COLUMN not in posts:
        return None
    return pd.to_numeric(posts[WEIGHT_COLUMN], errors="coerce").fillna(1.0).to_numpy(dtype=float)


def count_unit(posts: pd.DataFrame) -> str:
    """What a share counts in this frame: 'posts' when a `weight` column splits posts over their
    images (some weight below 1), else 'images' (one per row)."""
    weights = row_weights(posts)
    return "posts" if weights is not None and len(weights) and bool((weights < 1.0 - 1e-12).any()) else "images"


def share_table(posts: pd.DataFrame, period: str = "month", styles: Iterable | None = None) -> pd.DataFrame:
    """Long table `period, style, count, total, share, engagement, engagement_share, n`.

    Every style x period of the full regular period range is present (zeros filled). Rows whose style
    is negative (left out) or missing are excluded before shares are computed, so in every period with
    rows the shares sum to 1 over styles. Each row counts its `weight` (a column of the frame; 1 per row
    when absent, so shares count images; 1 / images of its post to count posts): count = the style's
    summed weight, total = the period's summed weight. n = the number of rows (images) behind the
    period's shares, whatever the weights, so small samples stay visible. engagement = likes + collects
    + comments times the weight, summed over the style's rows; engagement_share = the style's engagement
    / the period's total engagement (0 when the period has no engagement). Periods without rows have
    total 0, n 0 and share 0. count / total / engagement are int64 without a weight column, float64 with.
    `styles` adds styles that have no rows at all (as zero rows).
    """
    frame = posts.loc[_kept(posts["style"])] if len(posts) else posts
    dates = period_start(frame["post_date"], period) if len(frame) else pd.Series([], dtype="datetime64[ns]")
    frame = frame.assign(_period=dates.to_numpy()).loc[dates.notna().to_numpy()]
    wanted = list(styles) if styles is not None else []
    style_values = sorted(set(frame["style"].tolist()) | set(wanted))
    if frame.empty or not style_values:
        return pd.DataFrame({c: pd.Series([], dtype="datetime64[ns]" if c == "period" else
                                          ("float64" if "share" in c else "int64")) for c in SHARE_COLUMNS})
    weights = row_weights(frame)
    weight = np.ones(len(frame)) if weights is None else weights
    frame = frame.assign(_weight=weight, _engagement=post_engagement(frame) * weight)
    grouped = frame.groupby(["_period", "style"], sort=True).agg(count=("_weight", "sum"),
                                                                  engagement=("_engagement", "sum"),
                                                                  rows=("_period", "size"))
    periods = period_range(frame["_period"].min(), frame["_period"].max(), period)
    full = pd.MultiIndex.from_product([periods, style_values], names=["_period", "style"])
    table = grouped.reindex(full, fill_value=0).reset_index().rename(columns={"_period": "period"})
    kind = np.int64 if weights is None else np.float64
    table["count"] = table["count"].astype(kind)
    table["engagement"] = table["engagement"].astype(kind)
    table["total"] = table.groupby("period")["count"].transform("sum").astype(kind)
    table["n"] = table.groupby("period")["rows"].transform("sum").astype(np.int64)
    eng_total = table.groupby("period")["engagement"].transform("sum")
    table["share"] = np.where(table["total"] > 0, table["count"] / table["total"].where(table["total"] > 0, 1), 0.0)
    table["engagement_share"] = np.where(eng_total > 0, table["engagement"] / eng_total.clip(lower=1), 0.0)
    table["period"] = table["period"].astype("datetime64[ns]")
    return table[SHARE_COLUMNS].reset_index(drop=True)


def wide(shares: pd.DataFrame, value: str = "share") -> pd.DataFrame:
    """Pivot a long share table to period x style (sorted, zeros filled)."""
    table = shares.pivot_table(index="period", columns="style", values=value, aggfunc="sum", fill_value=0)
    table = table.sort_index().sort_index(axis=1)
    table.columns.name = "style"
    return table.astype(float)


def period_sizes(shares: pd.DataFrame) -> pd.Series:
    """Images (rows) behind each period's shares: the `n` column, else `total` (tables built elsewhere)."""
    column = "n" if "n" in shares else "total"
    return shares.groupby("period", sort=True)[column].first()


def small_periods(shares: pd.DataFrame, min_n: int, with_rows_only: bool = False) -> pd.DataFrame:
    """`period, n` of the periods whose shares rest on fewer than `min_n` images (n < min_n), sorted.
    with_rows_only keeps only periods that have some rows (an empty period has nothing to rank)."""
    sizes = period_sizes(shares) if len(shares) else pd.Series([], dtype="int64")
    small = sizes[(sizes < int(min_n)) & ((sizes > 0) if with_rows_only else True)]
    out = pd.DataFrame({"period": pd.to_datetime(small.index.to_numpy()), "n": small.to_numpy(dtype=np.int64)})
    return out.astype({"period": "datetime64[ns]"})


def top_styles(shares: pd.DataFrame, n: int = 5, value: str = "share", min_n: int = 0) -> pd.DataFrame:
    """The n styles with the largest share per period: `period, rank, style, share, count, total, n`
    (rank 1 = largest; ties by style id; styles with zero share are not ranked). `value` ranks by another
    column instead (e.g. 'engagement_share'), which is then added to the output. Periods whose shares
    rest on fewer than `min_n` images (small_periods) are left out: a '#1 at 50 %' on two images says
    nothing."""
    frame = shares.loc[shares[value] > 0]
    if min_n > 0 and len(frame):
        dropped = set(small_periods(shares, min_n)["period"])
        frame = frame.loc[~pd.to_datetime(frame["period"]).isin(dropped)]
    ordered = frame.sort_values(["period", value, "style"], ascending=[True, False, True])
    ordered = ordered.assign(rank=ordered.groupby("period").cumcount() + 1)
    sizes = [c for c in ("total", "n") if c in shares]
    columns = (["period", "rank", "style", "share", "count"] + sizes
               + ([value] if value not in ("share", "count") else []))
    out = ordered.loc[ordered["rank"] <= n, columns]
    out = out.reset_index(drop=True)
    out["rank"] = out["rank"].astype(np.int64)
    return out


# -- confidence bands ------------------------------------------------------------------------------
def wilson_interval(successes: np.ndarray | pd.Series, nobs: np.ndarray | pd.Series,
                    level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of successes / nobs (statsmodels' proportion_confint), clipped to [0, 1].
    A share of exactly 0 has lower 0, a share of 1 upper 1; nobs 0 gives (0, 1): no information.
    Non-integer successes / nobs (effective sizes) are allowed."""
    from statsmodels.stats.proportion import proportion_confint  # scipy-heavy: imported when needed

    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    n = np.asarray(nobs, dtype=float)
    hits = np.clip(np.nan_to_num(np.asarray(successes, dtype=float)), 0.0, np.where(n > 0, n, 0.0))
    lower, upper = np.zeros_like(n), np.ones_like(n)
    has = n > 0
    if has.any():
        lo, hi = proportion_confint(hits[has], n[has], alpha=1.0 - level, method="wilson")
        lower[has], upper[has] = np.clip(lo, 0.0, 1.0), np.clip(hi, 0.0, 1.0)
    lower[has & (hits <= 0)] = 0.0
    upper[has & (hits >= n)] = 1.0
    return lower, upper


def binomial_bands(shares: pd.DataFrame, level: float = 0.95, value: str = "share",
                   nobs: str = "total") -> pd.DataFrame:
    """The share table with `lower` / `upper`: the Wilson interval of each share read as a binomial
    proportion, value x nobs successes out of nobs trials (by default count / total posts of the period)."""
    successes = shares[value].to_numpy(dtype=float) * shares[nobs].to_numpy(dtype=float)
    lower, upper = wilson_interval(successes, shares[nobs].to_numpy(dtype=float), level)
    return shares.assign(lower=lower, upper=upper)


def effective_sizes(posts: pd.DataFrame, period: str = "month") -> pd.DataFrame:
    """`period, n_eff`: Kish's effective number of posts behind each period's engagement shares,
    (sum e)^2 / sum e^2 over the period's posts that belong to a style (e = likes + collects + comments,
    times the row's `weight` when the frame has one). Rows of one post (a `post` column: one row per
    image) are summed into one term first: a post's images share its engagement, they are not
    independent draws. Equal engagement gives the post count, one post holding all of it gives 1, no
    engagement gives 0."""
    frame = posts.loc[_kept(posts["style"])] if len(posts) else posts
    dates = period_start(frame["post_date"], period) if len(frame) else pd.Series([], dtype="datetime64[ns]")
    weights = post_engagement(frame).astype(float)
    row_weight = row_weights(frame)
    if row_weight is not None:
        weights = weights * row_weight
    parts = pd.DataFrame({"period": dates.to_numpy(), "e": weights})
    if "post" in frame and len(frame):
        parts = (parts.assign(post=frame["post"].astype(str).to_numpy()).dropna(subset=["period"])
                 .groupby(["period", "post"], sort=False)["e"].sum().reset_index())
    sums = (parts.assign(e2=parts["e"] ** 2).dropna(subset=["period"])
            .groupby("period", sort=True)[["e", "e2"]].sum())
    n_eff = np.where(sums["e2"] > 0, sums["e"] ** 2 / sums["e2"].where(sums["e2"] > 0, 1.0), 0.0)
    out = pd.DataFrame({"period": sums.index.to_numpy(), "n_eff": n_eff})
    out["period"] = out["period"].astype("datetime64[ns]")
    return out


def engagement_bands(shares: pd.DataFrame, posts: pd.DataFrame, period: str = "month",
                     level: float = 0.95) -> pd.DataFrame:
    """The share table with `n_eff`, `lower`, `upper` for the engagement shares: an engagement share is
    a proportion of posts weighted by their engagement, so its Wilson interval uses Kish's effective
    number of posts (a month carried by one viral post gets a wide band)."""
    merged = shares.merge(effective_sizes(posts, period), on="period", how="left")
    merged["n_eff"] = merged["n_eff"].fillna(0.0)
    return binomial_bands(merged, level, value="engagement_share", nobs="n_eff")


# -- top-5 changes and lifespans -------------------------------------------------------------------
def top_changes(top: pd.DataFrame, shares: pd.DataFrame, value: str = "share") -> pd.DataFrame:
    """A top-styles table with `change` (the style's value minus its value in the previous period of the
    share table; NaN in the first period) and `new` (the style was not in the previous period's top
    list; False in the first period). Pass the full top table: `new` looks at the previous period's rows."""
    order = [pd.Timestamp(p) for p in sorted(pd.unique(shares["period"]))]
    previous = dict(zip(order[1:], order[:-1]))
    lookup = {(pd.Timestamp(p), int(s)): float(v) for p, s, v in zip(shares["period"], shares["style"], shares[value])}
    members = {(pd.Timestamp(p), int(s)) for p, s in zip(top["period"], top["style"])}
    change, new = [], []
    for p, s, v in zip(top["period"], top["style"], top[value]):
        before = previous.get(pd.Timestamp(p))
        change.append(float(v) - lookup.get((before, int(s)), 0.0) if before is not None else np.nan)
        new.append(before is not None and (before, int(s)) not in members)
    return top.assign(change=np.asarray(change, dtype=float), new=np.asarray(new, dtype=bool))


LIFESPAN_COLUMNS = ["style", "style_name", "start", "end", "periods", "peak_share", "peak_period", "ongoing",
                    "peak_n"]


def _runs(above: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) positions of every run of True values."""
    edges = np.diff(np.concatenate([[0], above.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), (np.flatnonzero(edges == -1) - 1).tolist()))


def _style_name(group: pd.DataFrame, style: object) -> str:
    name = group["style_name"].iloc[0] if "style_name" in group else None
    return str(name) if isinstance(name, str) and name else f"S{style}"


def lifespans(shares: pd.DataFrame, threshold: float, min_periods: int = 1, value: str = "share") -> pd.DataFrame:
    """Spans in which a style's share stays above `threshold` (strictly), one row per span of at least
    `min_periods` consecutive periods: `style, style_name, start, end, periods, peak_share, peak_period,
    ongoing`. start / end are the first / last period above (end inclusive); peak_share is the largest
    value in the span; ongoing says the span reaches the table's last period (the style is still above);
    peak_n = the images behind the peak period's shares (the table's `n`, NaN without one).
    Expects share_table's regular grid (every style in every period); `value` may be 'engagement_share'."""
    if min_periods < 1:
        raise ValueError(f"min_periods must be >= 1, got {min_periods}")
    rows = []
    last = shares["period"].max() if len(shares) else None
    for style, group in shares.sort_values("period").groupby("style", sort=True):
        periods = pd.to_datetime(group["period"]).to_numpy()
        values = group[value].to_numpy(dtype=float)
        sizes = group["n"].to_numpy(dtype=float) if "n" in group else np.full(len(group), np.nan)
        for first, stop in _runs(np.nan_to_num(values, nan=-np.inf) > threshold):
            if stop - first + 1 < min_periods:
                continue
            peak = first + int(np.argmax(values[first:stop + 1]))
            rows.append({"style": style, "style_name": _style_name(group, style), "start": periods[first],
                         "end": periods[stop], "periods": stop - first + 1, "peak_share": values[peak],
                         "peak_period": periods[peak], "ongoing": bool(periods[stop] == last),
                         "peak_n": sizes[peak]})
    out = pd.DataFrame(rows, columns=LIFESPAN_COLUMNS)
    return out.astype({"start": "datetime64[ns]", "end": "datetime64[ns]", "peak_period": "datetime64[ns]",
                       "periods": "int64", "peak_share": "float64", "ongoing": "bool",
                       "peak_n": "float64"})


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
    - `trend_tercile`: 'top third' / 'middle third' / 'bottom third' of `change` across styles at
      that origin (TERCILE_NAMES; ordered like `trend_class`, as both read the same `change`).
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
        "trend_tercile": frame(np.vectorize(TERCILE_NAMES.get, otypes=[object])(tercile_class(change))).astype("str"),
    }
