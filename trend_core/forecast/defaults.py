"""Forecast settings derived from the panel: window W, gap G, horizon H, test span P and folds.

The fixed defaults of ForecastConfig (W=8, H=4, P=26, 2 folds) need about 70 weekly periods; a
year of weekly posts (27-52 weeks) or a couple of years of months fails with "too few periods". So
every setting the user leaves open is derived from the number of periods T, and a panel shorter than
MIN_PERIODS gets one message naming the minimum.

The rule (period kind -> preferred W, H and largest P in PREFERRED):
- H: the user's horizon; else the period's preferred one (week 4, month 3, day 7), lowered until a
  plan fits;
- G: the user's gap, else 0;
- P (each fold's test span): max(H, min(preferred P, T // 6)), so a test span holds at least one full
  target span and the folds together keep at most half of the panel for testing;
- folds: 3, else 2, else 1, the first that fits with W at least half its preferred value;
- W: min(preferred W, T // 4) (at least 2), lowered (down to half, then down to 2 with one fold)
  until the earliest fold has MIN_TRAIN_ORIGINS training origins per series.
A plan "fits" when forecast.windows.temporal_split, run on every fold's cut exactly as the backtest
will run it, gives every fold at least MIN_TRAIN_ORIGINS training origins and at least one
validation and one test origin per series. Values the user gives are kept as they are (a plan that
cannot fit them says which horizon would).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from trend_core.config import ForecastConfig
from trend_core.forecast.windows import Panel, build_windows, temporal_split

MIN_PERIODS = 20         # a panel shorter than this is not forecast with derived settings
MIN_TRAIN_ORIGINS = 3    # training origins per series in the earliest fold
MAX_FOLDS = 3
# period kind -> (preferred window W, preferred horizon H, largest test span P)
PREFERRED = {"day": (14, 7, 28), "week": (8, 4, 26), "month": (6, 3, 12)}
AUTO_FIELDS = ("window", "gap", "horizon", "test_periods", "folds")


@dataclass(frozen=True)
class Plan:
    """Derived settings and what the backtest gets from them (origins per series)."""

    window: int
    gap: int
    horizon: int
    test_periods: int
    folds: int
    n_periods: int
    train_origins: int   # training origins per series in the earliest fold
    test_origins: int    # test origins per series, all folds together

    def settings(self) -> dict[str, int]:
        return {"window": self.window, "gap": self.gap, "horizon": self.horizon,
                "test_periods": self.test_periods, "folds": self.folds}

    def describe(self, period: str = "week") -> str:
        return (f"{self.n_periods} {period} periods: W={self.window}, G={self.gap}, H={self.horizon}, "
                f"test span {self.test_periods}, {self.folds} fold(s) "
                f"({self.train_origins} training and {self.test_origins} test origins per series)")


def too_short_message(n_periods: int, period: str = "week") -> str:
    return (f"too few periods to forecast: the panel has {n_periods} {period} period(s); at least "
            f"{MIN_PERIODS} are needed (a window, a validation span and a test span that lies after "
            f"the training data). Use a shorter period (e.g. week instead of month) or more data.")


def _origins(n_periods: int, window: int, gap: int, horizon: int, test_periods: int,
             folds: int) -> tuple[int, int] | None:
    """(training origins in the earliest fold, test origins over all folds) per series when every
    fold's split (forecast.windows.temporal_split on a one-series panel of its cut) has training,
    validation and test windows; else None."""
    if window < 1 or horizon < 1 or gap < 0 or test_periods < horizon or folds < 1:
        return None
    train_first, tests = None, 0
    for f in range(folds):
        end = n_periods - (folds - 1 - f) * test_periods
        if end < window + gap + 2 * horizon + test_periods:
            return None
        index = pd.date_range("2000-01-03", periods=end, freq="W-MON")
        ws = build_windows(Panel(index, [0], np.ones((end, 1))), window, gap, horizon)
        try:
            split = temporal_split(ws, end, test_periods)
        except ValueError:
            return None
        counts = split.counts()
        if f == 0:
            train_first = counts["train_windows"]
        tests += counts["test_windows"]
    return (train_first, tests) if train_first is not None else None


def _fits(T: int, W: int, G: int, H: int, P: int, F: int, min_train: int) -> Plan | None:
    found = _origins(T, W, G, H, P, F)
    if found is None or found[0] < min_train:
        return None
    return Plan(W, G, H, P, F, T, found[0], found[1])


def _plan_for_horizon(T: int, period: str, H: int, window: int | None, gap: int | None,
                      test_periods: int | None, folds: int | None) -> Plan | None:
    pref_w, _, cap_p = PREFERRED.get(period, PREFERRED["week"])
    G = 0 if gap is None else int(gap)
    P = int(test_periods) if test_periods is not None else max(H, min(cap_p, T // 6))
    top = int(window) if window is not None else max(2, min(pref_w, T // 4))
    floor = top if window is not None else max(2, math.ceil(top / 2))
    fold_options = [int(folds)] if folds is not None else list(range(MAX_FOLDS, 0, -1))
    min_train = MIN_TRAIN_ORIGINS if window is None or folds is None else 1
    for F in fold_options:
        for W in range(top, floor - 1, -1):
            plan = _fits(T, W, G, H, P, F, min_train)
            if plan is not None:
                return plan
    if window is None:  # a shorter window before giving up (with the fewest folds allowed)
        for W in range(floor - 1, 1, -1):
            plan = _fits(T, W, G, H, P, fold_options[-1], min_train)
            if plan is not None:
                return plan
    return None


def derive_plan(n_periods: int, period: str = "week", *, window: int | None = None, gap: int | None = None,
                horizon: int | None = None, test_periods: int | None = None, folds: int | None = None) -> Plan:
    """Settings for a panel of n_periods (see the module doc); given values are kept. Raises
    ValueError with the minimum number of periods, or with the largest horizon that would fit."""
    T = int(n_periods)
    if T < MIN_PERIODS:
        raise ValueError(too_short_message(T, period))
    if horizon is not None:
        plan = _plan_for_horizon(T, period, int(horizon), window, gap, test_periods, folds)
        if plan is not None:
            return plan
        fitting = [h for h in range(int(horizon) - 1, 0, -1)
                   if _plan_for_horizon(T, period, h, window, gap, test_periods, folds) is not None]
        hint = f"the largest horizon that fits is {fitting[0]}" if fitting else "no horizon fits these settings"
        raise ValueError(f"horizon {horizon} does not fit a panel of {T} {period} periods (a window, a "
                         f"validation span and a test span of at least H periods each, and "
                         f"{MIN_TRAIN_ORIGINS} training origins): {hint}; or leave the other settings on auto")
    preferred = PREFERRED.get(period, PREFERRED["week"])[1]
    for H in range(preferred, 0, -1):
        plan = _plan_for_horizon(T, period, H, window, gap, test_periods, folds)
        if plan is not None:
            return plan
    raise ValueError(f"no forecast settings fit a panel of {T} {period} periods with window={window}, "
                     f"gap={gap}, test span={test_periods}, folds={folds}: leave them on auto")


def derive_config(n_periods: int, base: ForecastConfig | None = None, **given: int | None) -> ForecastConfig:
    """base (period, inputs, model, epochs, seed) with W, G, H, test span and folds derived from the
    panel's length wherever `given` leaves them None (or out)."""
    base = base or ForecastConfig()
    unknown = set(given) - set(AUTO_FIELDS)
    if unknown:
        raise TypeError(f"unknown settings {sorted(unknown)}; derivable: {', '.join(AUTO_FIELDS)}")
    plan = derive_plan(n_periods, base.period, **{k: v for k, v in given.items() if v is not None})
    return base.replace(**plan.settings())
