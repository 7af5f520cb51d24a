"""A global neural forecaster fitted on one history panel (T, N): direct multi-step forecasts from one
origin, as the external-series CLI and the F1 benchmark need them.

Windows: for every series and origin t, inputs are the W periods t-W+1..t of the series (and of each
covariate), targets the H periods t+1..t+H. Every quantity is expressed per series as
(value - level) / scale, where level is the mean of the last L = min(W, season) input values of the
window and scale is the series' mean absolute seasonal difference over the history the model is fitted
on (the MASE denominator), so the L1 training loss is the MASE the benchmark reports. Covariates are
normalised the same way with their own level and scale, plus the log ratio of their level to the
series' level.

Split inside the history (no test data is ever seen): the last `val_periods` periods (default H) form
the validation span used for early stopping. Training windows keep only the targets that lie before
it (later targets are masked as NaN, so windows whose target span crosses into validation are still
used for their earlier steps); validation windows have origins from just before the span to the end of
the history and are scored on their known targets. Weights of the best validation epoch (the initial
weights, epoch 0, included) are restored.

Corrector mode (base=callable): base(history[:t+1], H) -> (H, N) is a statistical forecast recomputed
at every origin t from what that origin knows; targets become (value - base) / scale, the normalised
base is an extra input, and the MLP's last layer starts at zero (so it starts as the base forecast).

Architectures: 'mlp' (flattened window -> H) and 'lstm' (trend_core.forecast.models.LSTMForecaster,
hot head off). Seeded: the same seed and settings give the same forecasts on CPU.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from trend_core.forecast.models import LSTMConfig, LSTMForecaster
from trend_core.forecast.train import pick_device

Progress = Callable[[float, str], None]


def mase_scales(values: np.ndarray, season: int) -> np.ndarray:
    """(N,) mean |y_t - y_{t-m}| over the rows of values (m = season, or 1 when fewer than 2 seasonal
    differences exist); a zero scale is replaced by the mean scale (or 1)."""
    T = len(values)
    m = season if season >= 1 and T - season >= 2 else 1
    if T <= m:
        scale = np.ones(values.shape[1])
    else:
        scale = np.abs(values[m:] - values[:-m]).mean(axis=0)
    good = np.isfinite(scale) & (scale > 1e-12)
    fill = float(scale[good].mean()) if good.any() else 1.0
    return np.where(good, scale, fill)


@dataclass
class NeuralSettings:
    arch: str = "mlp"            # 'mlp' or 'lstm'
    window: int = 52             # W input periods
    hidden: int = 128            # hidden width (MLP) / LSTM hidden size
    dropout: float = 0.1
    epochs: int = 200
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 256
    patience: int = 15
    val_periods: int | None = None   # validation span at the end of the history (default: horizon)
    n_seeds: int = 1             # models trained with seeds seed..seed+n-1, forecasts averaged
    threads: int | None = None   # torch CPU threads while training
    stride: int = 1              # keep every stride-th training origin (the most recent one always)


class _MLP(nn.Module):
    """Flattened window (and, for a corrector, the normalised base forecast) -> H outputs. With
    zero_init the last layer starts at 0, so a corrector starts as its base forecast."""

    def __init__(self, n_in: int, horizon: int, hidden: int, dropout: float, zero_init: bool = False) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_in, hidden), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(hidden, hidden), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(hidden, horizon))
        if zero_init:
            nn.init.zeros_(self.net[-1].weight)
            nn.init.zeros_(self.net[-1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.reshape(len(x), -1))


class _LSTM(nn.Module):
    """LSTMForecaster over the per-step features; the window-level extras are repeated per step."""

    def __init__(self, n_features: int, horizon: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.core = LSTMForecaster(LSTMConfig(n_features=n_features, horizon=horizon, hidden=hidden,
                                              dropout=dropout, hot_head=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.core(x)[0]


class GlobalNeural:
    """Fit on history (T, N) (+ covariates of the same shape), predict the next `horizon` periods."""

    def __init__(self, horizon: int, season: int, settings: NeuralSettings | None = None, seed: int = 0,
                 device: str | torch.device | None = None,
                 base: Callable[[np.ndarray, int], np.ndarray] | None = None) -> None:
        self.base = base
        self.horizon = int(horizon)
        self.season = max(1, int(season))
        self.s = settings or NeuralSettings()
        self.seed = int(seed)
        self.device = pick_device(device)

    # -- features ----------------------------------------------------------------------------------
    def _channels(self, history: np.ndarray, covariates: dict[str, np.ndarray] | None) -> list[np.ndarray]:
        return [history] + [np.asarray(covariates[k], dtype=float) for k in sorted(covariates or {})]

    def _windows(self, chans: list[np.ndarray], origins: np.ndarray, series: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
        """Features (n, W, F) and the series level (n,) for windows (origin, series)."""
        W, L = self.window_, self.level_len_
        pos = origins[:, None] + np.arange(-W + 1, 1)[None, :]
        feats, levels = [], []
        for k, ch in enumerate(chans):
            x = ch[pos, series[:, None]]  # (n, W)
            level = x[:, -L:].mean(axis=1)
            feats.append((x - level[:, None]) / self.scales_[k][series][:, None])
            levels.append(level)
        y_level = levels[0]
        extras = [np.log((y_level + self.eps_[0]) / self.ref_level_[series])]
        for k in range(1, len(chans)):
            extras.append(np.log((levels[k] + self.eps_[k]) / (y_level + self.eps_[0])))
        extra = np.stack(extras, axis=-1)  # (n, E)
        X = np.concatenate([np.stack(feats, axis=-1), np.repeat(extra[:, None, :], W, axis=1)], axis=-1)
        return X, y_level

    def _reference(self, y: np.ndarray, origins: np.ndarray, series: np.ndarray, level: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray | None]:
        """(n, H) reference the outputs are relative to: the window level, or with a base forecaster
        the base forecast made at the origin from history[:origin+1] only; plus the normalised base
        (base - level) / scale as extra inputs (None without a base)."""
        H = self.horizon
        if self.base is None:
            return np.repeat(level[:, None], H, axis=1), None
        ref = np.empty((len(origins), H))
        for o in np.unique(origins):
            rows = np.flatnonzero(origins == o)
            if o not in self.base_cache_:
                self.base_cache_[o] = np.asarray(self.base(y[:o + 1], H), dtype=float)  # (H, N)
            ref[rows] = self.base_cache_[o][:, series[rows]].T
        z = (ref - level[:, None]) / self.scales_[0][series][:, None]
        return ref, z

    def _targets(self, y: np.ndarray, origins: np.ndarray, series: np.ndarray, ref: np.ndarray,
                 end: int) -> np.ndarray:
        """(n, H) normalised targets (relative to ref); positions >= end are NaN."""
        pos = origins[:, None] + np.arange(1, self.horizon + 1)[None, :]
        ok = pos < end
        vals = y[np.where(ok, pos, 0), series[:, None]]
        t = (vals - ref) / self.scales_[0][series][:, None]
        return np.where(ok, t, np.nan)

    def _inputs(self, X: np.ndarray, z: np.ndarray | None) -> np.ndarray:
        X = (X - self.f_mean_) / self.f_std_
        if z is None:
            return X
        return np.concatenate([X.reshape(len(X), -1), z], axis=1)

    # -- fit / predict -----------------------------------------------------------------------------
    def fit(self, history: np.ndarray, covariates: dict[str, np.ndarray] | None = None,
            progress: Progress | None = None) -> GlobalNeural:
        y = np.asarray(history, dtype=float)
        T, N = y.shape
        chans = self._channels(y, covariates)
        for ch in chans:
            if ch.shape != y.shape:
                raise ValueError("covariates must have the history's shape")
        H = self.horizon
        V = self.s.val_periods if self.s.val_periods is not None else H
        V = int(max(1, min(V, T // 3)))
        val_start = T - V
        # the window shrinks when the history is short: at least ~8 training origins
        W = int(max(2, min(self.s.window, val_start - 9)))
        if val_start - 1 - (W - 1) < 1:
            raise ValueError(f"history of {T} periods is too short for the neural model")
        self.window_, self.level_len_ = W, max(1, min(W, self.season))
        fit_span = [ch[:val_start] for ch in chans]  # normalisers from the training span only
        self.scales_ = [mase_scales(ch, self.season) for ch in fit_span]
        self.eps_ = [max(0.05 * float(np.mean(np.abs(ch))), 1e-9) for ch in fit_span]
        self.ref_level_ = np.mean(y[:val_start], axis=0) + self.eps_[0]

        tr_orig = np.arange(W - 1, val_start - 1)[::-1][::max(1, int(self.s.stride))][::-1]
        va_orig = np.arange(max(W - 1, val_start - 1), T - 1)
        if self.base is not None and self.s.arch != "mlp":
            raise ValueError("a base forecaster (corrector mode) needs arch='mlp'")
        self.base_cache_: dict[int, np.ndarray] = {}

        def cut(origins: np.ndarray, end: int) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
            o = np.repeat(origins, N)
            s = np.tile(np.arange(N), len(origins))
            X, level = self._windows(chans, o, s)
            ref, z = self._reference(y, o, s, level)
            return X, z, self._targets(y, o, s, ref, end)
        Xtr, ztr, ytr = cut(tr_orig, val_start)
        Xva, zva, yva = cut(va_orig, T)
        flat = Xtr.reshape(-1, Xtr.shape[-1])
        self.f_mean_ = flat.mean(axis=0)
        std = flat.std(axis=0)
        self.f_std_ = np.where(std > 1e-9, std, 1.0)
        self.n_features_ = Xtr.shape[-1]
        Xtr = self._inputs(Xtr, ztr)
        Xva = self._inputs(Xva, zva)
        self.n_inputs_ = int(np.prod(Xtr.shape[1:]))
        self.chans_ = chans
        self.models_, self.histories_ = [], []
        previous = torch.get_num_threads()
        if self.s.threads is not None and self.device.type == "cpu":
            torch.set_num_threads(max(1, self.s.threads))
        try:
            for k in range(max(1, self.s.n_seeds)):
                def sub(frac: float, msg: str, k: int = k) -> None:
                    if progress is not None:
                        progress((k + frac) / max(1, self.s.n_seeds), f"seed {k + 1}: {msg}")
                model, hist = self._train(Xtr, ytr, Xva, yva, self.seed + k, sub)
                self.models_.append(model)
                self.histories_.append(hist)
        finally:
            if self.s.threads is not None and self.device.type == "cpu":
                torch.set_num_threads(previous)
        self.T_ = T
        return self

    def _build(self) -> nn.Module:
        if self.s.arch == "lstm":
            return _LSTM(self.n_features_, self.horizon, self.s.hidden, self.s.dropout)
        if self.s.arch == "mlp":
            return _MLP(self.n_inputs_, self.horizon, self.s.hidden, self.s.dropout,
                        zero_init=self.base is not None)
        raise ValueError(f"unknown architecture {self.s.arch!r}")

    def _train(self, Xtr: np.ndarray, ytr: np.ndarray, Xva: np.ndarray, yva: np.ndarray, seed: int,
               progress: Progress) -> tuple[nn.Module, list[dict[str, float]]]:
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        dev = self.device
        model = self._build().to(dev)
        opt = torch.optim.AdamW(model.parameters(), lr=self.s.learning_rate, weight_decay=self.s.weight_decay)
        tX = torch.as_tensor(Xtr, dtype=torch.float32, device=dev)
        ty = torch.as_tensor(ytr, dtype=torch.float32, device=dev)
        vX = torch.as_tensor(Xva, dtype=torch.float32, device=dev)
        vy = torch.as_tensor(yva, dtype=torch.float32, device=dev)
        vmask = ~torch.isnan(vy)
        vy0 = torch.nan_to_num(vy)

        def loss_of(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            known = ~torch.isnan(target)
            return (pred - torch.nan_to_num(target)).abs()[known].mean()

        def val_loss() -> float | None:
            model.eval()
            with torch.no_grad():
                err = (model(vX) - vy0).abs()
            return float(err[vmask].mean()) if bool(vmask.any()) else None

        best, best_state, since, rows = math.inf, None, 0, []
        start_loss = val_loss()
        if start_loss is not None:  # epoch 0 competes too: a corrector that never helps stays at its base
            best, best_state = start_loss, {k: v.detach().clone() for k, v in model.state_dict().items()}
            rows.append({"epoch": 0, "train_loss": float("nan"), "val_loss": start_loss})
        n = len(tX)
        for epoch in range(1, self.s.epochs + 1):
            model.train()
            order = rng.permutation(n)
            total = 0.0
            for start in range(0, n, self.s.batch_size):
                idx = torch.as_tensor(order[start:start + self.s.batch_size], device=dev)
                target = ty[idx]
                if not (~torch.isnan(target)).any():
                    continue
                opt.zero_grad(set_to_none=True)
                loss = loss_of(model(tX[idx]), target)
                loss.backward()
                nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
                total += loss.item() * len(idx)
            measured = val_loss()
            val = measured if measured is not None else total / max(n, 1)
            rows.append({"epoch": epoch, "train_loss": total / max(n, 1), "val_loss": val})
            if val < best - 1e-6:
                best, since = val, 0
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                since += 1
            progress(epoch / self.s.epochs, f"epoch {epoch}: val {val:.4f}")
            if since >= self.s.patience:
                break
        if best_state is not None:
            model.load_state_dict(best_state)
        model.eval()
        return model, rows

    def predict(self, horizon: int | None = None) -> np.ndarray:
        """(horizon, N) forecasts from the last period of the history (horizon <= the trained one)."""
        h = self.horizon if horizon is None else int(horizon)
        if h > self.horizon:
            raise ValueError(f"trained for horizon {self.horizon}, asked for {h}")
        N = self.chans_[0].shape[1]
        o = np.full(N, self.T_ - 1)
        s = np.arange(N)
        X, level = self._windows(self.chans_, o, s)
        ref, z = self._reference(self.chans_[0], o, s, level)
        X = torch.as_tensor(self._inputs(X, z), dtype=torch.float32, device=self.device)
        preds = []
        with torch.no_grad():
            for model in self.models_:
                preds.append(model(X).float().cpu().numpy())
        norm = np.mean(preds, axis=0)  # (N, H)
        out = norm * self.scales_[0][:, None] + ref
        return np.clip(out.T[:h], 0.0, None)
