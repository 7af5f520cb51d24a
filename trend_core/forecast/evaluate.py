"""run_forecast: a rolling-origin backtest (folds) of the neural model beside every baseline on the
same leak-free windows, then a forward forecast with intervals, P(hot) and trend classes from models
refitted on every period up to the last one.

Folds: fold f (f = 0 .. folds-1, oldest first) cuts the panel after period T - (folds-1-f) * P
(P = test_periods) and runs the single split of forecast.windows on that cut: the test span is its
last P periods, the validation span sits before it, and the scaler, the embedding reductions and the
model are fitted on the cut's training windows only. So each fold's model is trained from scratch on
data before its own test origin.

Forward forecast: after the backtest the network is refitted from scratch on every supervised window of
the whole panel (targets up to the last period), for the number of epochs that early stopping chose on
the last fold's validation span (chosen inside the training span, never on later data); the scaler is
refitted on the same windows. Baselines read every period up to the last one (ETS is re-estimated on
the full history). Forward intervals and the Monte Carlo P(hot) use the residuals of every fold's
validation and test windows (out-of-sample errors of models with the same settings). With upper_bound=1 (shares) points and
intervals lie in [0, 1].

Metrics (pooled over every fold's test windows, every model on the same windows):
- mae, wape (sum |err| / sum |actual|), mase (per series: test MAE / mean |y_t - y_{t-m}| over the
  fold's training span, m = season length when that span is long enough else 1; averaged over
  series);
- hot_*: per test origin and step, the k series with the highest predicted share are called hot
  (k = the number of hot series per period) against the actual hot labels; hot_auc scores the
  neural model's hot-head probability and, for the others, each prediction's rank among the
  origin's series;
- trend_*: rising / flat / falling of the predicted target-span mean against the input-window mean
  (+-trend_threshold: the series' own change) against the same class on the actual values; tercile_*:
  the same change ranked into thirds across the series of each origin ('top third' / 'middle third' /
  'bottom third': relative to the other series, so a series can be in the top third while falling when
  all fall; both read the same change, so a higher third never has a lower trend class);
- coverage: share of test actuals inside the model's interval (nominal `interval`).
Metric functions live in forecast.metrics, the modality ablation in forecast.ablation.
A `majority` row predicts the most frequent training-window class (hot, trend, tercile), so skill is
read against it. Intervals: quantiles of validation residuals (relative to each window's share
level) per step. P(hot) ahead: the neural model's hot head; for the others a Monte Carlo over their
residuals (how often the series lands among the top k). `ensemble` = mean of the neural model and
ETS.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from trend_core.config import ForecastConfig, TrendConfig
from trend_core.forecast.baselines import BASELINES, predict_baselines, season_length
from trend_core.forecast.metrics import (METRIC_COLUMNS, class_metrics, interval, mase_scale, p_hot_monte_carlo,
                                         point_metrics, rank_within_origin, residual_ratios, tercile_by_origin,
                                         top_k_hot)
from trend_core.forecast.models import LSTMConfig, embedding_groups
from trend_core.forecast.train import EpochHook, pick_device, predict, save_state, train_lstm
from trend_core.forecast.windows import (SHARE, Panel, Split, WindowScaler, WindowSet, build_windows,
                                         prepare_panel, temporal_split)
from trend_core.trends import TERCILE_NAMES, TREND_NAMES, n_hot, relative_change, trend_class

Progress = Callable[[float, str], None]
FORECAST_COLUMNS = ["series", "step", "period", "point", "lower", "upper", "p_hot", "trend_class",
                    "trend_tercile", "model"]
TEST_COLUMNS = ["fold", "series", "origin", "step", "period", "actual", "model", "predicted"]
LSTM = "lstm"
ETS = "ets"
ENSEMBLE = "ensemble"
MAJORITY = "majority"


@dataclass
class ForecastResult:
    """Everything a forecasting run produced; see the module doc for the metric definitions."""

    metrics: pd.DataFrame           # one row per model (neural, baselines, ensemble, majority)
    forecasts: pd.DataFrame         # neural forward forecast: FORECAST_COLUMNS, one row per series x step
    test_predictions: pd.DataFrame  # TEST_COLUMNS, every model on every fold's test windows and steps
    split: dict[str, str]           # ISO dates of the last fold's spans (+ first_test_start over folds,
                                    # forward_train_start / forward_train_end of the refitted model)
    history: pd.DataFrame           # the last fold's epochs: epoch, train_loss, val_loss, seconds, best
    state: bytes                    # train.save_state bytes of the refitted model (config, weights, scaler)
    config: ForecastConfig
    baseline_forecasts: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=FORECAST_COLUMNS))
    info: dict[str, Any] = field(default_factory=dict)  # counts, device, seconds, season, folds, notes ...
    fold_state: bytes = b""         # save_state bytes of the last backtest fold's model (trained before its test span)


# -- frames ----------------------------------------------------------------------------------------
def _forecast_frame(panel: Panel, fw: WindowSet, pred: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                    p_hot: np.ndarray, threshold: float, model: str, period: str) -> pd.DataFrame:
    H, G = fw.horizon, fw.gap
    periods = panel.future_periods(G + H, period)[G:]
    in_mean = fw.share_inputs.mean(axis=1)
    classes = trend_class(in_mean, pred.mean(axis=1), threshold)
    terciles = tercile_by_origin(relative_change(in_mean, pred.mean(axis=1)), fw.origin)
    n = len(fw)
    return pd.DataFrame({
        "series": np.repeat(np.asarray(panel.columns, dtype=object)[fw.series], H),
        "step": np.tile(np.arange(1, H + 1), n),
        "period": np.tile(periods.to_numpy(), n),
        "point": pred.ravel(), "lower": lower.ravel(), "upper": upper.ravel(), "p_hot": p_hot.ravel(),
        "trend_class": np.repeat([TREND_NAMES[int(c)] for c in classes], H) if n else [],
        "trend_tercile": np.repeat([TERCILE_NAMES[int(c)] for c in terciles], H) if n else [],
        "model": model,
    }, columns=FORECAST_COLUMNS)


def _test_frame(panel: Panel, windows: WindowSet, predictions: dict[str, np.ndarray], fold: int) -> pd.DataFrame:
    H = windows.horizon
    n = len(windows)
    base = {"fold": fold,
            "series": np.repeat(np.asarray(panel.columns, dtype=object)[windows.series], H),
            "origin": np.repeat(panel.index.to_numpy()[windows.origin], H),
            "step": np.tile(np.arange(1, H + 1), n),
            "period": panel.index.to_numpy()[windows.target_positions().ravel()],
            "actual": windows.targets.ravel()}
    frames = [pd.DataFrame({**base, "model": name, "predicted": pred.ravel()}, columns=TEST_COLUMNS)
              for name, pred in predictions.items()]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=TEST_COLUMNS)


def forecast_csv(result: ForecastResult) -> str:
    """The forward forecast as CSV, one row per series and horizon step (period as ISO date)."""
    frame = result.forecasts.copy()
    frame["period"] = pd.to_datetime(frame["period"]).dt.strftime("%Y-%m-%d")
    return frame.to_csv(index=False, float_format="%.6g")


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    return value


# -- one fold --------------------------------------------------------------------------------------
@dataclass
class Fold:
    """One cut of the panel: its split, the fitted scaler and model, and every model's predictions."""

    index: int
    data: Panel
    split: Split
    scaler: WindowScaler
    model: Any
    history: pd.DataFrame
    test_pred: dict[str, np.ndarray]
    hot_score: dict[str, np.ndarray]
    ratios: dict[str, np.ndarray]       # validation residual ratios per model (intervals)
    test_scale: np.ndarray              # (n_test,) share level of each test window
    mase: np.ndarray                    # (n_test,) MASE scale of each test window's series
    mase_season: int


def _cut(data: Panel, end: int) -> Panel:
    """The panel's first `end` periods."""
    return Panel(data.index[:end], data.columns, data.values[:end],
                 {k: v[:end] for k, v in data.covariates.items()}, list(data.notes))


def neural_config(scaler: WindowScaler, cfg: ForecastConfig) -> LSTMConfig:
    """The network for cfg.model, sized from the scaler's features."""
    return LSTMConfig(n_features=scaler.n_features, horizon=cfg.horizon, hidden=cfg.hidden, kind=cfg.model,
                      groups=embedding_groups(scaler.feature_names_))


def _run_fold(index: int, data: Panel, cfg: ForecastConfig, trend: TrendConfig, season: int,
              val_periods: int | None, baselines: list[str], dev: Any, threads: int | None,
              report: Progress, on_epoch: EpochHook | None) -> Fold:
    W, G, H = cfg.window, cfg.gap, cfg.horizon
    windows = build_windows(data, W, G, H, cfg.modalities, trend.hot_quantile)
    split = temporal_split(windows, data.n_periods, cfg.test_periods, val_periods)
    scaler = WindowScaler().fit(split.train)
    train_s, val_s, test_s = (scaler.transform(w) for w in (split.train, split.val, split.test))
    report(0.0, f"training on {len(split.train)} windows, validating on {len(split.val)}")
    model, history = train_lstm(train_s, val_s, cfg, lambda f, m: report(0.9 * f, m), dev,
                                lstm=neural_config(scaler, cfg), threads=threads, on_epoch=on_epoch)
    report(0.9, "scoring the test windows" + (" (ETS refits per origin)" if ETS in baselines else ""))
    neural = cfg.model
    val_scaled, _ = predict(model, val_s)
    test_scaled, test_prob = predict(model, test_s)
    val_pred = {neural: scaler.inverse(val_scaled, val_s.scale)}
    test_pred = {neural: scaler.inverse(test_scaled, test_s.scale)}
    val_pred.update(predict_baselines(split.val, data.values, season, baselines))
    test_pred.update(predict_baselines(split.test, data.values, season, baselines))
    if ETS in baselines:
        val_pred[ENSEMBLE] = (val_pred[neural] + val_pred[ETS]) / 2
        test_pred[ENSEMBLE] = (test_pred[neural] + test_pred[ETS]) / 2
    hot_score = {name: rank_within_origin(pred, split.test.origin) for name, pred in test_pred.items()}
    if test_prob is not None:
        hot_score[neural] = test_prob
    ratios = {name: residual_ratios(split.val, val_pred[name], val_s.scale) for name in test_pred}
    scale, m_used = mase_scale(data.values, split.test_start, season)
    return Fold(index, data, split, scaler, model, history, test_pred, hot_score, ratios, test_s.scale,
                scale[split.test.series], m_used)


def _fold_ends(n_periods: int, folds: int, test_periods: int) -> list[int]:
    return [n_periods - (folds - 1 - f) * test_periods for f in range(folds)]


def run_folds(data: Panel, cfg: ForecastConfig, trend: TrendConfig, season: int, val_periods: int | None,
               baselines: list[str], dev: Any, threads: int | None, report: Progress,
               on_epoch: EpochHook | None, span: tuple[float, float] = (0.0, 0.92)) -> list[Fold]:
    folds = max(1, int(cfg.folds))
    ends = _fold_ends(data.n_periods, folds, cfg.test_periods)
    out = []
    for f, end in enumerate(ends):
        lo = span[0] + (span[1] - span[0]) * f / folds
        width = (span[1] - span[0]) / folds
        label = f"fold {f + 1}/{folds}: " if folds > 1 else ""

        def sub(fraction: float, message: str, lo: float = lo, width: float = width, label: str = label) -> None:
            report(lo + width * fraction, label + message)

        hook = (lambda row, f=f: on_epoch(row | {"fold": f + 1})) if on_epoch is not None else None
        try:
            out.append(_run_fold(f, _cut(data, end), cfg, trend, season, val_periods, baselines, dev, threads,
                                 sub, hook))
        except ValueError as exc:
            if folds > 1 and "too few periods" in str(exc):
                raise ValueError(f"{exc} (fold {f + 1} of {folds} ends {folds - 1 - f} test spans early: "
                                 "use fewer folds)") from exc
            raise
    return out


# -- pooled metrics --------------------------------------------------------------------------------
def _majority(train: WindowSet, trend: TrendConfig) -> tuple[int, int, int]:
    """Most frequent hot label, trend class and tercile class of a fold's training windows."""
    in_mean, tg_mean = train.share_inputs.mean(axis=1), train.targets.mean(axis=1)

    def most(values: np.ndarray) -> int:
        kinds, counts = np.unique(values, return_counts=True)
        return int(kinds[np.argmax(counts)])

    return (int(np.nanmean(train.hot) > 0.5), most(trend_class(in_mean, tg_mean, trend.trend_threshold)),
            most(tercile_by_origin(relative_change(in_mean, tg_mean), train.origin)))


def pooled_metrics(folds: list[Fold], trend: TrendConfig, interval_level: float,
                   names: list[str] | None = None, majority: bool = True) -> pd.DataFrame:
    """One row per model over the test windows of every fold (see the module doc)."""
    names = names or list(folds[0].test_pred)
    parts: dict[str, dict[str, list[np.ndarray]]] = {}
    truth: dict[str, list[np.ndarray]] = {k: [] for k in ("targets", "series", "mase", "hot", "trend", "tercile")}
    for fold in folds:
        test = fold.split.test
        k = n_hot(fold.data.n_series, trend.hot_quantile)
        in_mean = test.share_inputs.mean(axis=1)
        truth["targets"].append(test.targets)
        truth["series"].append(test.series)
        truth["mase"].append(fold.mase)
        truth["hot"].append(test.hot.astype(int))
        truth["trend"].append(trend_class(in_mean, test.targets.mean(axis=1), trend.trend_threshold))
        truth["tercile"].append(tercile_by_origin(relative_change(in_mean, test.targets.mean(axis=1)), test.origin))
        maj_hot, maj_trend, maj_tercile = _majority(fold.split.train, trend)
        for name in names + ([MAJORITY] if majority else []):
            p = parts.setdefault(name, {k: [] for k in ("pred", "hot", "score", "trend", "tercile", "inside")})
            if name == MAJORITY:
                p["hot"].append(np.full_like(test.hot, maj_hot, dtype=int))
                p["score"].append(np.zeros_like(test.hot))
                p["trend"].append(np.full(len(test), maj_trend))
                p["tercile"].append(np.full(len(test), maj_tercile))
                continue
            pred = fold.test_pred[name]
            lower, upper = interval(pred, fold.test_scale, fold.ratios[name], interval_level)
            p["pred"].append(pred)
            p["hot"].append(top_k_hot(pred, test.origin, k))
            p["score"].append(fold.hot_score[name])
            p["trend"].append(trend_class(in_mean, pred.mean(axis=1), trend.trend_threshold))
            p["tercile"].append(tercile_by_origin(relative_change(in_mean, pred.mean(axis=1)), test.origin))
            p["inside"].append((test.targets >= lower) & (test.targets <= upper))
    cat = {k: np.concatenate(v) for k, v in truth.items()}
    rows = []
    for name, p in parts.items():
        c = {k: np.concatenate(v) for k, v in p.items() if v}
        point = point_metrics(cat["targets"], c["pred"], cat["series"], cat["mase"]) if "pred" in c else \
            {"mae": np.nan, "wape": np.nan, "mase": np.nan}
        rows.append({"model": name, **point,
                     **class_metrics(cat["hot"], c["hot"], c["score"], cat["trend"], c["trend"], cat["tercile"],
                                     c["tercile"]),
                     "coverage": float(c["inside"].mean()) if "inside" in c else np.nan,
                     "n_windows": len(cat["targets"])})
    return pd.DataFrame(rows, columns=METRIC_COLUMNS)


# -- the run ---------------------------------------------------------------------------------------
def baseline_names(baselines: list[str] | None) -> list[str]:
    names = list(BASELINES) if baselines is None else list(baselines)
    unknown = [n for n in names if n not in BASELINES]
    if unknown:
        raise ValueError(f"unknown baselines {unknown}; choose from {', '.join(BASELINES)}")
    return names


def refit_all(data: Panel, cfg: ForecastConfig, trend: TrendConfig, epochs: int, dev: Any,
              threads: int | None, report: Progress) -> tuple[Any, WindowScaler, WindowSet, pd.DataFrame]:
    """The network trained from scratch on every supervised window of the panel (targets up to its
    last period) for `epochs` epochs (no validation span: the count was chosen on a fold's). Returns
    the model, its scaler, the training windows and the epoch history."""
    windows = build_windows(data, cfg.window, cfg.gap, cfg.horizon, cfg.modalities, trend.hot_quantile)
    if len(windows) == 0:
        raise ValueError("no complete window to refit the forecaster on")
    scaler = WindowScaler().fit(windows)
    none = scaler.transform(windows.subset(np.zeros(len(windows), dtype=bool)))
    model, history = train_lstm(scaler.transform(windows), none, cfg.replace(epochs=max(1, int(epochs))), report,
                                dev, lstm=neural_config(scaler, cfg), threads=threads, patience=int(epochs) + 1)
    return model, scaler, windows, history


def _best_epoch(history: pd.DataFrame) -> int | None:
    return int(history.loc[history["best"], "epoch"].iloc[0]) if len(history) and history["best"].any() else None


def run_forecast(panel: pd.DataFrame, covariates: dict[str, pd.DataFrame] | None = None,
                 cfg: ForecastConfig | None = None, progress: Progress | None = None, *,
                 trend: TrendConfig | None = None, season: int | None = None, val_periods: int | None = None,
                 interval_level: float = 0.8, device: str | None = None,
                 baselines: list[str] | None = None, threads: int | None = None,
                 on_epoch: EpochHook | None = None, upper_bound: float | None = None) -> ForecastResult:
    """Backtest the neural model (cfg.model) beside the baselines on the same leak-free test windows
    of cfg.folds rolling origins, then refit on the whole panel and forecast H periods past its end
    for every series. cfg=None: settings derived from the panel (forecast.defaults). upper_bound:
    the largest value a forecast or interval may take (1 for shares). on_epoch(row) gets each
    epoch's losses (with its fold) as training goes. See the module doc."""
    from trend_core.forecast.defaults import derive_config

    trend = trend or TrendConfig()
    report = progress or (lambda fraction, message: None)
    started = time.perf_counter()
    report(0.0, "building windows")
    data = prepare_panel(panel, covariates)
    cfg = cfg or derive_config(data.n_periods)
    notes = list(data.notes)
    missing = [m for m in cfg.modalities if m != SHARE and m not in data.covariates]
    if missing:
        notes.append(f"modalities without a covariate series were skipped: {', '.join(missing)}")
    season = season if season is not None else season_length(cfg.period)
    names = baseline_names(baselines)
    dev = pick_device(device)
    folds = run_folds(data, cfg, trend, season, val_periods, names, dev, threads, report, on_epoch,
                      span=(0.0, 0.85))
    last = folds[-1]
    metrics = pooled_metrics(folds, trend, interval_level)

    # forward: the network refitted on every period, the baselines on the full history
    epochs = _best_epoch(last.history) or cfg.epochs
    report(0.85, f"refitting on every period for {epochs} epochs")
    model, scaler, refit_windows, _ = refit_all(
        data, cfg, trend, epochs, dev, threads, lambda f, m: report(0.85 + 0.1 * f, f"refit: {m}"))
    report(0.95, "forecasting ahead")
    W, G, H = cfg.window, cfg.gap, cfg.horizon
    k = n_hot(data.n_series, trend.hot_quantile)
    fw = build_windows(data, W, G, H, cfg.modalities, trend.hot_quantile, forward=True)
    fw_s = scaler.transform(fw)
    fw_scaled, fw_prob = predict(model, fw_s)
    ahead = {cfg.model: scaler.inverse(fw_scaled, fw_s.scale)}
    ahead.update({name: BASELINES[name](fw, data.values, season) for name in names})
    if ENSEMBLE in last.test_pred:
        ahead[ENSEMBLE] = (ahead[cfg.model] + ahead[ETS]) / 2
    frames = []
    for i, (name, pred) in enumerate(ahead.items()):
        pred = np.clip(pred, 0.0, upper_bound)
        ratios = np.concatenate([f.ratios[name] for f in folds] +  # validation and test residuals, every fold
                                [residual_ratios(f.split.test, f.test_pred[name], f.test_scale) for f in folds])
        lower, upper = interval(pred, fw_s.scale, ratios, interval_level, upper_bound)
        p_hot = fw_prob if name == cfg.model and fw_prob is not None else \
            p_hot_monte_carlo(pred, fw_s.scale, ratios, k, cfg.seed + i)
        frames.append(_forecast_frame(data, fw, pred, lower, upper, p_hot, trend.trend_threshold, name, cfg.period))
    forecasts = frames[0]
    baseline_forecasts = pd.concat(frames[1:], ignore_index=True) if len(frames) > 1 else \
        pd.DataFrame(columns=FORECAST_COLUMNS)

    dates = last.split.dates(data.index)
    dates["first_test_start"] = folds[0].split.dates(folds[0].data.index)["test_start"]
    first_input = int(refit_windows.origin.min()) - W + 1
    dates["forward_train_start"] = pd.Timestamp(data.index[first_input]).date().isoformat()
    dates["forward_train_end"] = pd.Timestamp(data.index[int(refit_windows.target_positions().max())]).date().isoformat()
    history = last.history
    counts = {key: sum(f.split.counts()[key] for f in folds) for key in last.split.counts()}
    info = {"counts": counts, "device": str(dev), "seconds": round(time.perf_counter() - started, 3),
            "model": cfg.model, "epochs_run": int(len(history)), "best_epoch": _best_epoch(history),
            "season": int(season), "mase_season": int(last.mase_season), "n_hot": int(k),
            "channels": list(last.split.train.channels), "n_features": int(scaler.n_features),
            "features": scaler.feature_names_, "folds": [f.split.dates(f.data.index) | f.split.counts()
                                                        for f in folds],
            "forward": {"train_start": dates["forward_train_start"], "train_end": dates["forward_train_end"],
                        "origin": pd.Timestamp(data.index[-1]).date().isoformat(), "windows": len(refit_windows),
                        "epochs": int(epochs), "interval_residuals": "every fold's validation and test windows"},
            "settings": {"window": W, "gap": G, "horizon": H, "test_periods": cfg.test_periods,
                         "folds": cfg.folds, "n_periods": data.n_periods},
            "upper_bound": upper_bound, "interval": interval_level, "notes": notes}
    state = save_state(model, scaler, _jsonable({"forecast_config": asdict(cfg), "split": dates, "info": info}))
    test_frames = [_test_frame(f.data, f.split.test, f.test_pred, f.index + 1) for f in folds]
    report(1.0, "done")
    fold_state = save_state(last.model, last.scaler, _jsonable({"forecast_config": asdict(cfg), "split": dates}))
    return ForecastResult(metrics, forecasts, pd.concat(test_frames, ignore_index=True), dates, history, state,
                          cfg, baseline_forecasts, info, fold_state)
