"""Training loop for the neural forecasters (models.NEURAL_MODELS): Adam, Huber loss on scaled shares
(+ BCE on hot labels), early stopping on the validation span with patience, best weights restored.
Seeded; device 'cuda' when available. on_epoch receives each epoch's losses as they come (live curves)."""
from __future__ import annotations

import io
import math
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from trend_core.config import ForecastConfig
from trend_core.forecast.models import LSTMConfig, build_model
from trend_core.forecast.windows import Scaled, WindowScaler

Progress = Callable[[float, str], None]
EpochHook = Callable[[dict[str, float]], None]
Model = nn.Module


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """The given device, else 'cuda' when available, else 'cpu'."""
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _loss(model: Model, X: torch.Tensor, y: torch.Tensor, hot: torch.Tensor,
          hot_weight: float, delta: float) -> torch.Tensor:
    pred, logit = model(X)
    known = ~torch.isnan(y)
    loss = nn.functional.huber_loss(pred[known], y[known], delta=delta)
    if logit is not None and hot_weight > 0:
        has = ~torch.isnan(hot)
        if has.any():
            loss = loss + hot_weight * nn.functional.binary_cross_entropy_with_logits(logit[has], hot[has])
    return loss


def _evaluate(model: Model, data: tuple[torch.Tensor, ...], hot_weight: float, delta: float,
              batch_size: int) -> float:
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(data[0]), batch_size):
            X, y, hot = (d[start:start + batch_size] for d in data)
            total += float(_loss(model, X, y, hot, hot_weight, delta)) * len(X)
            count += len(X)
    return total / max(count, 1)


def train_lstm(train: Scaled, val: Scaled, cfg: ForecastConfig, progress: Progress | None = None,
               device: str | torch.device | None = None, *, lstm: LSTMConfig | None = None,
               batch_size: int = 64, patience: int = 10, weight_decay: float = 1e-4,
               hot_weight: float = 0.2, huber_delta: float = 1.0,
               threads: int | None = None, on_epoch: EpochHook | None = None) -> tuple[Model, pd.DataFrame]:
    """Train on `train`, stop when the validation loss has not improved for `patience` epochs, restore
    the best weights. Returns the model (eval mode, on `device`) and a history frame
    `epoch, train_loss, val_loss, seconds, best`. progress(fraction, message) is called once per epoch.
    threads: torch CPU threads while training (restored afterwards); None leaves torch's setting.
    lstm: the model's config (kind, groups ...); by default an `lstm` sized from the data.
    on_epoch(row) is called after every epoch with epoch, train_loss, val_loss, seconds."""
    dev = pick_device(device)
    previous = torch.get_num_threads()
    if threads is not None and dev.type == "cpu":
        torch.set_num_threads(max(1, threads))
    try:
        return _train(train, val, cfg, progress, dev, lstm, batch_size, patience, weight_decay, hot_weight,
                      huber_delta, on_epoch)
    finally:
        if threads is not None and dev.type == "cpu":
            torch.set_num_threads(previous)


def _train(train: Scaled, val: Scaled, cfg: ForecastConfig, progress: Progress | None, dev: torch.device,
           lstm: LSTMConfig | None, batch_size: int, patience: int, weight_decay: float, hot_weight: float,
           huber_delta: float, on_epoch: EpochHook | None = None) -> tuple[Model, pd.DataFrame]:
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    horizon = train.y.shape[1]
    lstm = lstm or LSTMConfig(n_features=train.X.shape[-1], horizon=horizon, hidden=cfg.hidden)
    model = build_model(lstm).to(dev)
    optimiser = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate, weight_decay=weight_decay)

    def tensors(data: Scaled) -> tuple[torch.Tensor, ...]:
        return tuple(torch.as_tensor(a, dtype=torch.float32, device=dev) for a in (data.X, data.y, data.hot))

    tr, va = tensors(train), tensors(val)
    n = len(train)
    best, best_state, since, best_epoch, rows = math.inf, None, 0, 0, []
    started = time.perf_counter()
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        order = torch.as_tensor(rng.permutation(n), device=dev)
        total = 0.0
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            optimiser.zero_grad(set_to_none=True)
            loss = _loss(model, tr[0][idx], tr[1][idx], tr[2][idx], hot_weight, huber_delta)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimiser.step()
            total += loss.item() * len(idx)
        train_loss = total / max(n, 1)
        val_loss = _evaluate(model, va, hot_weight, huber_delta, 1024) if len(val) else float("nan")
        rows.append({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss,
                     "seconds": time.perf_counter() - started})
        if on_epoch is not None:
            on_epoch(dict(rows[-1]))
        score = val_loss if len(val) else train_loss
        if score < best - 1e-6:
            best, since, best_epoch = score, 0, epoch
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            since += 1
        if progress is not None:
            progress(epoch / cfg.epochs, f"epoch {epoch}/{cfg.epochs}: train {train_loss:.4f}, val {val_loss:.4f}")
        if since >= patience:
            if progress is not None:
                progress(1.0, f"early stop at epoch {epoch} (best val {best:.4f})")
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    history = pd.DataFrame(rows, columns=["epoch", "train_loss", "val_loss", "seconds"])
    history["best"] = history["epoch"] == best_epoch
    return model, history


def predict(model: Model, data: Scaled, batch_size: int = 2048) -> tuple[np.ndarray, np.ndarray | None]:
    """Scaled share predictions (n, H) and hot probabilities (n, H) (None without a hot head)."""
    dev = next(model.parameters()).device
    model.eval()
    preds, probs = [], []
    with torch.no_grad():
        for start in range(0, len(data), batch_size):
            X = torch.as_tensor(data.X[start:start + batch_size], dtype=torch.float32, device=dev)
            pred, logit = model(X)
            preds.append(pred.float().cpu().numpy())
            if logit is not None:
                probs.append(torch.sigmoid(logit).float().cpu().numpy())
    horizon = model.cfg.horizon
    pred = np.concatenate(preds) if preds else np.zeros((0, horizon), dtype=np.float32)
    prob = (np.concatenate(probs) if probs else np.zeros((0, horizon), dtype=np.float32)) \
        if model.hot is not None else None
    return pred, prob


def save_state(model: Model, scaler: WindowScaler | None = None,
               extra: dict[str, Any] | None = None) -> bytes:
    """Checkpoint bytes: model config, weights (on CPU), scaler and extra plain values."""
    buffer = io.BytesIO()
    torch.save({"lstm_config": asdict(model.cfg),
                "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                "scaler": scaler.to_dict() if scaler is not None else None,
                "extra": extra or {}}, buffer)
    return buffer.getvalue()


def load_state(data: bytes, device: str | torch.device | None = None
               ) -> tuple[Model, WindowScaler | None, dict[str, Any]]:
    """Inverse of save_state, with torch.load(weights_only=True)."""
    payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    model = build_model(LSTMConfig(**payload["lstm_config"]))
    model.load_state_dict(payload["state_dict"])
    model.to(pick_device(device)).eval()
    scaler = WindowScaler.from_dict(payload["scaler"]) if payload.get("scaler") else None
    return model, scaler, payload.get("extra") or {}
