"""Read external series (and covariates of the same shape) from CSV, wide or long, and write wide.

Wide: a date column (the first column, or one named date / week / period / month / day) and one
numeric column per series, like ../shared/benchmarks/f1. Long: three columns series, date, value
(also accepted: name / id, period / week, share / y). Empty cells are missing values (the panel
fills them forward and says so); any other bad cell is an error naming its rows, never dropped.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Union

import pandas as pd

DATE_NAMES = ("date", "week", "period", "month", "day", "ds", "time")
SERIES_NAMES = ("series", "name", "id", "unique_id", "style")
VALUE_NAMES = ("value", "share", "y", "count")
MAX_LISTED = 5
Source = Union[str, Path, IO[bytes], IO[str]]  # a path, or an open file such as an upload


@dataclass
class SeriesTable:
    """A wide frame (DatetimeIndex x series) read from a file, its layout and what was noticed."""

    frame: pd.DataFrame
    layout: str                  # "wide" or "long"
    date_column: str             # the input's date column name (kept for writing back)
    notes: list[str] = field(default_factory=list)


def _find(columns: list[str], names: tuple[str, ...]) -> str | None:
    lowered = {str(c).strip().lower(): c for c in columns}
    return next((lowered[n] for n in names if n in lowered), None)


def _dates(values: pd.Series, source: str) -> pd.DatetimeIndex:
    parsed = pd.to_datetime(values, errors="coerce")
    bad = values[parsed.isna()]
    if len(bad):
        rows = ", ".join(f"row {i + 2}: {v!r}" for i, v in list(bad.items())[:MAX_LISTED])
        raise ValueError(f"{source}: {len(bad)} dates could not be read ({rows})")
    return pd.DatetimeIndex(parsed)


def _numbers(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    out = frame.apply(pd.to_numeric, errors="coerce")
    bad = out.isna() & frame.notna() & (frame.astype(str).apply(lambda c: c.str.strip()) != "")
    if bad.to_numpy().any():
        cells = [(r, c) for c in frame.columns for r in frame.index[bad[c].to_numpy()]][:MAX_LISTED]
        listed = ", ".join(f"row {r + 2} column {c!r}: {frame.at[r, c]!r}" for r, c in cells)
        raise ValueError(f"{source}: {int(bad.to_numpy().sum())} values are not numbers ({listed})")
    return out.astype(float)


def _name(source: Source) -> str:
    return Path(source).name if isinstance(source, (str, Path)) else str(getattr(source, "name", "upload"))


def read_series(source: Source) -> SeriesTable:
    """A wide or long CSV (a path or an open file) as a wide frame sorted by date (module doc)."""
    name = _name(source)
    if isinstance(source, (str, Path)) and not Path(source).exists():
        raise FileNotFoundError(f"no such file: {source}")
    try:
        raw = pd.read_csv(source, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ValueError(f"{name}: not a readable CSV ({exc})") from exc
    if raw.empty or raw.shape[1] < 2:
        raise ValueError(f"{name}: needs a date column and at least one series column")
    columns = list(raw.columns)
    series_col, date_col, value_col = _find(columns, SERIES_NAMES), _find(columns, DATE_NAMES), \
        _find(columns, VALUE_NAMES)
    notes: list[str] = []
    if series_col and date_col and value_col and len(columns) == 3:
        dates = _dates(raw[date_col], name)
        values = _numbers(raw[[value_col]], name)[value_col]
        long = pd.DataFrame({"series": raw[series_col].str.strip(), "date": dates, "value": values.to_numpy()})
        dup = long.duplicated(["series", "date"], keep=False)
        if dup.any():
            rows = ", ".join(str(i + 2) for i in long.index[dup][:MAX_LISTED])
            raise ValueError(f"{name}: {int(dup.sum())} rows repeat a (series, date) pair (rows {rows})")
        frame = long.pivot(index="date", columns="series", values="value")
        frame.columns = [str(c) for c in frame.columns]
        layout = "long"
        absent = int(frame.isna().to_numpy().sum() - long["value"].isna().sum())
        if absent:
            notes.append(f"{absent} (series, date) pairs absent from the long file are missing values")
    else:
        date_col = date_col or columns[0]
        dates = _dates(raw[date_col], name)
        body = raw.drop(columns=[date_col])
        if body.columns.duplicated().any():
            raise ValueError(f"{name}: repeated series columns {sorted(set(body.columns[body.columns.duplicated()]))}")
        frame = _numbers(body, name)
        frame.index = dates
        if frame.index.has_duplicates:
            raise ValueError(f"{name}: repeated dates {sorted({d.date().isoformat() for d in frame.index[frame.index.duplicated()]})[:MAX_LISTED]}")
        layout = "wide"
    frame = frame.sort_index()
    frame.index.name = None
    missing = int(frame.isna().to_numpy().sum())
    if missing:
        notes.append(f"{missing} empty cells")
    return SeriesTable(frame, layout, str(date_col), notes)


def read_covariate(path: Source, series: SeriesTable) -> SeriesTable:
    """A covariate file of the same shape as the series: every series must have a column; dates
    are aligned to the series' dates (a date the covariate lacks is a missing value)."""
    cov = read_series(path)
    absent = [c for c in series.frame.columns if c not in cov.frame.columns]
    if absent:
        listed = ", ".join(absent[:MAX_LISTED]) + (" ..." if len(absent) > MAX_LISTED else "")
        raise ValueError(f"{_name(path)}: no column for {len(absent)} series ({listed})")
    extra = [c for c in cov.frame.columns if c not in series.frame.columns]
    if extra:
        cov.notes.append(f"{len(extra)} covariate columns without a series are ignored")
    aligned = cov.frame.reindex(index=series.frame.index, columns=series.frame.columns)
    lacking = int(aligned.isna().to_numpy().sum() - cov.frame.reindex(columns=series.frame.columns).isna().to_numpy().sum())
    if lacking > 0:
        cov.notes.append(f"{lacking} covariate cells missing for the series' dates")
    cov.frame = aligned
    return cov


def write_wide(frame: pd.DataFrame, path: str | Path, date_column: str = "date") -> None:
    """A wide frame to CSV: the date column first (ISO dates), then one column per series."""
    out = frame.copy()
    out.index = pd.DatetimeIndex(out.index).strftime("%Y-%m-%d")
    unnamed = not date_column or date_column.startswith("Unnamed:")  # the input's header cell was empty
    out.index.name = None if unnamed else date_column
    out.to_csv(path, float_format="%.6g")


def season_for(index: pd.DatetimeIndex) -> int:
    """Default season length from the date step: 52 weekly, 12 monthly, 7 daily, 4 quarterly, else 1."""
    if len(index) < 3:
        return 1
    step = pd.Series(index[1:] - index[:-1]).median()
    days = step / pd.Timedelta(days=1)
    for low, high, season in ((0.9, 1.1, 7), (6.5, 7.5, 52), (27, 32, 12), (88, 93, 4)):
        if low <= days <= high:
            return season
    return 1


def write_like(frame: pd.DataFrame, path: str | Path, table: SeriesTable) -> None:
    """Write forecasts in the input's layout: wide as wide (its date header kept), long as
    series, date, value rows."""
    if table.layout != "long":
        write_wide(frame, path, table.date_column)
        return
    long = frame.copy()
    long.index = pd.DatetimeIndex(long.index).strftime("%Y-%m-%d")
    long = long.rename_axis("date").reset_index().melt(id_vars="date", var_name="series", value_name="value")
    long[["series", "date", "value"]].to_csv(path, index=False, float_format="%.6g")
