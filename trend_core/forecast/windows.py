"""Supervised windows over a share panel, a leak-free temporal split and the feature scaler.

A panel is a wide frame: index = period starts (sorted, regular), columns = series ids, values =
share. A window with origin t (row position) has inputs at periods t-W+1..t and targets at periods
t+G+1..t+G+H. Covariates are wide frames of the same shape (e.g. 'engagement' = engagement share).

Split (positions; T periods, P = test_periods, V = validation periods):
- test span: the last P periods; test windows have every target inside it (origin >= test origin);
- validation span: the V periods before it; validation windows have every target inside it;
- training windows: the last target lies before the validation span.
So training targets never reach the validation or test spans, validation targets never reach the
test span, and the gap G is respected in every split. Scalers are fitted on training windows only.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import pandas as pd

from trend_core.trends import PERIOD_FREQ, hot_mask

SHARE = "share"
RANK = "rank"
EMBEDDING_PREFIXES = ("image_", "mask_", "text_")  # per-period embedding components (can be negative)


def is_embedding_channel(name: str) -> bool:
    """Embedding components (e.g. 'text_2') are standardised as they are, not taken as ratios."""
    return name.startswith(EMBEDDING_PREFIXES) and name.rsplit("_", 1)[-1].isdigit()


def feature_names(channels: tuple[str, ...] | list[str]) -> list[str]:
    """The scaler's feature order: one per channel (ratio, raw embedding or rank), then one log
    level per ratio channel named 'level:<channel>'."""
    return list(channels) + [f"level:{c}" for c in channels if c != RANK and not is_embedding_channel(c)]


@dataclass
class Panel:
    """A validated panel: values (T, N) plus covariate arrays of the same shape."""

    index: pd.DatetimeIndex
    columns: list[Any]
    values: np.ndarray
    covariates: dict[str, np.ndarray] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def n_periods(self) -> int:
        return self.values.shape[0]

    @property
    def n_series(self) -> int:
        return self.values.shape[1]

    def future_periods(self, n: int, period: str | None = None) -> pd.DatetimeIndex:
        """The n period starts after the last one (regular step of the index)."""
        freq = self.index.freq
        if freq is None and period in PERIOD_FREQ:
            freq = PERIOD_FREQ[period]
        if freq is None:
            step = self.index[-1] - self.index[-2] if len(self.index) >= 2 else pd.Timedelta(days=7)
            return pd.DatetimeIndex([self.index[-1] + step * (i + 1) for i in range(n)])
        return pd.date_range(self.index[-1], periods=n + 1, freq=freq)[1:]


def prepare_panel(panel: pd.DataFrame, covariates: dict[str, pd.DataFrame] | None = None) -> Panel:
    """Sort the index, check it is regular, align covariates to the panel (missing cells: 0); missing
    panel cells are carried forward, then 0. Notes say what was filled."""
    if panel is None or panel.empty:
        raise ValueError("the panel is empty")
    frame = panel.copy()
    frame.index = pd.DatetimeIndex(pd.to_datetime(frame.index))
    if frame.index.has_duplicates:
        raise ValueError("the panel index has duplicate periods")
    frame = frame.sort_index()
    if len(frame.index) >= 3:
        inferred = pd.DatetimeIndex(frame.index, freq="infer")  # freq None when the steps are irregular
        if inferred.freq is None:
            raise ValueError("the panel index must be regular (one row per period, no missing periods)")
        frame.index = inferred
    notes: list[str] = []
    values = frame.apply(pd.to_numeric, errors="coerce").astype(float)
    if values.isna().to_numpy().any():
        notes.append(f"{int(values.isna().to_numpy().sum())} missing panel cells carried forward (then 0)")
        values = values.ffill().fillna(0.0)
    covs: dict[str, np.ndarray] = {}
    for name, cov in (covariates or {}).items():
        if cov is None or name == SHARE:
            continue
        aligned = cov.copy()
        aligned.index = pd.DatetimeIndex(pd.to_datetime(aligned.index))
        aligned = aligned.reindex(index=frame.index, columns=frame.columns)
        aligned = aligned.apply(pd.to_numeric, errors="coerce").astype(float)
        if aligned.isna().to_numpy().any():
            notes.append(f"covariate {name!r}: {int(aligned.isna().to_numpy().sum())} missing cells set to 0")
        covs[name] = aligned.fillna(0.0).to_numpy(dtype=float)
    return Panel(frame.index, list(frame.columns), values.to_numpy(dtype=float), covs, notes)


@dataclass
class WindowSet:
    """Windows as arrays. inputs: (n, W, C) raw channel values (channel 0 = share); targets: (n, H)
    raw future shares (NaN for forward windows); hot: (n, H) 1/0 actual hot labels (NaN unknown);
    series / origin: (n,) column / row positions; channels: channel names."""

    inputs: np.ndarray
    targets: np.ndarray
    hot: np.ndarray
    series: np.ndarray
    origin: np.ndarray
    channels: tuple[str, ...]
    window: int
    gap: int
    horizon: int

    def __len__(self) -> int:
        return len(self.series)

    def subset(self, mask: np.ndarray) -> "WindowSet":
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        for name in ("inputs", "targets", "hot", "series", "origin"):
            values[name] = values[name][mask]
        return WindowSet(**values)

    def target_positions(self) -> np.ndarray:
        """(n, H) row positions of the target periods."""
        return self.origin[:, None] + self.gap + np.arange(1, self.horizon + 1)[None, :]

    def input_positions(self) -> np.ndarray:
        """(n, W) row positions of the input periods."""
        return self.origin[:, None] + np.arange(-self.window + 1, 1)[None, :]

    @property
    def share_inputs(self) -> np.ndarray:
        return self.inputs[:, :, 0]


def channels_for(panel: Panel, modalities: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Input channels: share always (it is the target), then the requested covariates the panel has,
    then the cross-sectional rank of the share in its period."""
    extra = [m for m in modalities if m != SHARE and m in panel.covariates]
    return (SHARE, *extra, RANK)


def build_windows(panel: Panel, window: int, gap: int, horizon: int,
                  modalities: tuple[str, ...] | list[str] = (SHARE,), hot_quantile: float = 0.8,
                  forward: bool = False) -> WindowSet:
    """All supervised windows (every origin with a full input window and a full target span), or with
    forward=True the single window per series whose origin is the last period (targets NaN)."""
    if window < 1 or horizon < 1 or gap < 0:
        raise ValueError("window and horizon must be >= 1 and gap >= 0")
    T, N = panel.values.shape
    if forward:
        origins = np.array([T - 1]) if T >= window else np.array([], dtype=int)
    else:
        origins = np.arange(window - 1, T - gap - horizon)
    channels = channels_for(panel, modalities)
    rank = pd.DataFrame(panel.values).rank(axis=1, pct=True, method="average").to_numpy()
    stack = [panel.values] + [panel.covariates[c] for c in channels[1:-1]] + [rank]
    cube = np.stack(stack, axis=-1)  # (T, N, C)
    hot = hot_mask(panel.values, hot_quantile).astype(float)
    origin = np.repeat(origins, N).astype(np.int64)
    series = np.tile(np.arange(N), len(origins)).astype(np.int64)
    in_pos = origin[:, None] + np.arange(-window + 1, 1)[None, :]
    inputs = cube[in_pos, series[:, None], :] if len(origin) else np.zeros((0, window, len(channels)))
    if forward:
        targets = np.full((len(origin), horizon), np.nan)
        hot_labels = np.full((len(origin), horizon), np.nan)
    else:
        tg_pos = origin[:, None] + gap + np.arange(1, horizon + 1)[None, :]
        targets = panel.values[tg_pos, series[:, None]] if len(origin) else np.zeros((0, horizon))
        hot_labels = hot[tg_pos, series[:, None]] if len(origin) else np.zeros((0, horizon))
    return WindowSet(inputs.astype(float), targets.astype(float), hot_labels.astype(float), series, origin,
                     channels, window, gap, horizon)


@dataclass
class Split:
    """Training / validation / test windows and the positions of the spans (see module doc)."""

    train: WindowSet
    val: WindowSet
    test: WindowSet
    train_target_end: int    # last period any training window targets
    val_start: int           # first period of the validation span
    test_origin: int         # origin of the first test window
    test_start: int          # first test target period (= first period of the test span)
    test_end: int            # last period
    n_periods: int

    def dates(self, index: pd.DatetimeIndex) -> dict[str, str]:
        """The split as ISO dates for display."""
        def iso(pos: int) -> str:
            return pd.Timestamp(index[pos]).date().isoformat()
        first_train = int(self.train.origin.min()) - self.train.window + 1 if len(self.train) else 0
        return {"train_start": iso(first_train), "train_target_end": iso(self.train_target_end),
                "val_start": iso(self.val_start), "val_end": iso(self.test_start - 1),
                "test_origin": iso(self.test_origin), "test_start": iso(self.test_start),
                "test_end": iso(self.test_end)}

    def counts(self) -> dict[str, int]:
        return {"train_windows": len(self.train), "val_windows": len(self.val), "test_windows": len(self.test)}


def default_val_periods(n_periods: int, test_periods: int, horizon: int) -> int:
    """Validation span length: a fifth of the training span, at least H, at most the test span."""
    return max(horizon, min(test_periods, (n_periods - test_periods) // 5))


def temporal_split(windows: WindowSet, n_periods: int, test_periods: int,
                   val_periods: int | None = None) -> Split:
    """Split supervised windows by time so that no training target reaches the validation or test
    span and no validation target reaches the test span (see module doc). The validation span is
    shrunk (down to H periods) when the training span would otherwise hold no window."""
    W, G, H = windows.window, windows.gap, windows.horizon
    T, P = n_periods, test_periods
    if P < H:
        raise ValueError(f"test_periods ({P}) must be at least the horizon ({H})")
    first_targets = windows.origin + G + 1
    last_targets = windows.origin + G + H
    test_start = T - P
    V = val_periods if val_periods is not None else default_val_periods(T, P, H)
    V = max(H, V)
    # training windows need an origin >= W-1 and last target < test_start - V
    while V > H and test_start - V - 1 - (G + H) < W - 1:
        V -= 1
    val_start = test_start - V
    train_mask = last_targets < val_start
    val_mask = (first_targets >= val_start) & (last_targets < test_start)
    test_mask = first_targets >= test_start
    if not train_mask.any() or not val_mask.any() or not test_mask.any():
        need = W + G + 2 * H + P
        raise ValueError(f"too few periods ({T}) for window {W}, gap {G}, horizon {H} and test span {P}: "
                         f"need about {need}")
    train = windows.subset(train_mask)
    return Split(train, windows.subset(val_mask), windows.subset(test_mask),
                 int((train.origin + G + H).max()), int(val_start), int(test_start - G - 1), int(test_start),
                 int(T - 1), int(T))


@dataclass
class Scaled:
    """Model-ready arrays: X (n, W, F) float32, y (n, H) float32 scaled targets (NaN unknown), hot (n, H)
    float32 labels (NaN unknown), scale (n,) the share level each window's targets are relative to."""

    X: np.ndarray
    y: np.ndarray
    hot: np.ndarray
    scale: np.ndarray

    def __len__(self) -> int:
        return len(self.X)


class WindowScaler:
    """Scale-free features for a global model, fitted on training windows only.

    Per window and ratio channel c: x / (window mean of c + eps_c) - 1 per step, plus the level
    log(window mean of c + eps_c) repeated over the steps; rank and embedding components
    (is_embedding_channel) are kept as they are. eps_c = 5 % of the channel's mean over the training
    windows. Feature order: feature_names(channels). Then every feature is standardised with training means
    and deviations. Targets: target / (window mean share + eps_share) - 1, standardised per step.
    """

    EPS_FRACTION = 0.05

    def fit(self, windows: WindowSet) -> "WindowScaler":
        if len(windows) == 0:
            raise ValueError("cannot fit the scaler on zero windows")
        self.channels_ = tuple(windows.channels)
        self.eps_ = np.array([max(self.EPS_FRACTION * abs(float(np.mean(windows.inputs[:, :, i]))), 1e-9)
                              for i in range(len(self.channels_))])
        raw = self._features(windows)
        flat = raw.reshape(-1, raw.shape[-1])
        self.mean_ = flat.mean(axis=0)
        std = flat.std(axis=0)
        self.std_ = np.where(std > 1e-9, std, 1.0)
        ratio = self._target_ratio(windows)
        self.y_mean_ = ratio.mean(axis=0)
        y_std = ratio.std(axis=0)
        self.y_std_ = np.where(y_std > 1e-9, y_std, 1.0)
        return self

    @property
    def n_features(self) -> int:
        return len(self.mean_)

    @property
    def feature_names_(self) -> list[str]:
        return feature_names(self.channels_)

    def share_scale(self, windows: WindowSet) -> np.ndarray:
        """(n,) window mean share + eps: the level targets are expressed relative to."""
        return windows.share_inputs.mean(axis=1) + self.eps_[0]

    def _features(self, windows: WindowSet) -> np.ndarray:
        parts = []
        levels = []
        for i, name in enumerate(windows.channels):
            x = windows.inputs[:, :, i]
            if name == RANK or is_embedding_channel(name):
                parts.append(x)
                continue
            level = x.mean(axis=1, keepdims=True) + self.eps_[i]
            parts.append(x / level - 1.0)
            levels.append(np.repeat(np.log(level), x.shape[1], axis=1))
        return np.stack(parts + levels, axis=-1)

    def _target_ratio(self, windows: WindowSet) -> np.ndarray:
        return windows.targets / self.share_scale(windows)[:, None] - 1.0

    def transform(self, windows: WindowSet) -> Scaled:
        if tuple(windows.channels) != self.channels_:
            raise ValueError(f"channels {windows.channels} differ from the fitted {self.channels_}")
        X = (self._features(windows) - self.mean_) / self.std_
        y = (self._target_ratio(windows) - self.y_mean_) / self.y_std_
        return Scaled(X.astype(np.float32), y.astype(np.float32), windows.hot.astype(np.float32),
                      self.share_scale(windows))

    def inverse(self, y_scaled: np.ndarray, scale: np.ndarray) -> np.ndarray:
        """Scaled targets back to shares (clipped at 0)."""
        ratio = np.asarray(y_scaled) * self.y_std_ + self.y_mean_
        return np.clip((ratio + 1.0) * np.asarray(scale)[:, None], 0.0, None)

    def to_dict(self) -> dict[str, Any]:
        """Plain lists, so torch.load(weights_only=True) can read it back."""
        return {"channels": list(self.channels_), "eps": self.eps_.tolist(), "mean": self.mean_.tolist(),
                "std": self.std_.tolist(), "y_mean": self.y_mean_.tolist(), "y_std": self.y_std_.tolist()}

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> "WindowScaler":
        scaler = cls()
        scaler.channels_ = tuple(state["channels"])
        for name in ("eps", "mean", "std", "y_mean", "y_std"):
            setattr(scaler, name + "_", np.asarray(state[name], dtype=float))
        return scaler
