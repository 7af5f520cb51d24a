"""A small global LSTM over all series: per-step scale-free features in, H scaled shares + H hot logits out.

Features come from forecast.windows.WindowScaler (share and covariates as ratios to their window mean,
the share's cross-sectional rank, log levels), so one model serves series of very different levels.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class LSTMConfig:
    n_features: int = 4      # per-step input features (set from the scaler)
    horizon: int = 4         # H future steps predicted
    hidden: int = 32         # LSTM hidden size
    layers: int = 1          # stacked LSTM layers
    dropout: float = 0.1     # dropout on the last hidden state (and between layers when layers > 1)
    hot_head: bool = True    # also predict one hot logit per step


class LSTMForecaster(nn.Module):
    """LSTM encoder over the W input steps; from its last hidden state an MLP predicts the H scaled
    future shares and a linear head the H hot logits."""

    def __init__(self, cfg: LSTMConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.lstm = nn.LSTM(cfg.n_features, cfg.hidden, num_layers=cfg.layers, batch_first=True,
                            dropout=cfg.dropout if cfg.layers > 1 else 0.0)
        self.drop = nn.Dropout(cfg.dropout)
        self.head = nn.Sequential(nn.Linear(cfg.hidden, cfg.hidden), nn.GELU(), nn.Linear(cfg.hidden, cfg.horizon))
        self.hot = nn.Linear(cfg.hidden, cfg.horizon) if cfg.hot_head else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x: (B, W, F) -> (scaled shares (B, H), hot logits (B, H) or None)."""
        _, (h, _) = self.lstm(x)
        last = self.drop(h[-1])
        return self.head(last), (self.hot(last) if self.hot is not None else None)
