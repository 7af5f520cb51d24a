"""Neural forecasters over all series at once (global models): per-step scale-free features in, H
scaled shares + H hot logits out.

Features come from forecast.windows.WindowScaler (share and covariates as ratios to their window mean,
the share's cross-sectional rank, log levels, embedding components as they are), so one model serves
series of very different levels. Two designs from the original notes:
- `lstm`: every feature of a period goes straight into the LSTM (note 000);
- `attention`: a period's image-side embeddings (image, mask) and its text embedding are first fused
  by cross-attention (text asks, image answers), numeric features go through a small MLP, and the two
  are concatenated before the LSTM (note 001).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from trend_core.forecast.windows import is_embedding_channel

IMAGE_SIDE = ("image", "mask")  # embedding groups that answer the text query in `attention`
TEXT_SIDE = "text"


@dataclass
class LSTMConfig:
    n_features: int = 4      # per-step input features (set from the scaler)
    horizon: int = 4         # H future steps predicted
    hidden: int = 32         # LSTM hidden size (also the attention width)
    layers: int = 1          # stacked LSTM layers
    dropout: float = 0.1     # dropout on the last hidden state (and between layers when layers > 1)
    hot_head: bool = True    # also predict one hot logit per step
    kind: str = "lstm"       # "lstm" or "attention" (see the module doc)
    heads: int = 2           # attention heads (attention only)
    groups: dict[str, list[int]] = field(default_factory=dict)  # embedding group -> feature positions


def embedding_groups(names: list[str]) -> dict[str, list[int]]:
    """Feature positions of each embedding modality ('image_1', 'image_2' -> image: [i, j])."""
    groups: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        if is_embedding_channel(name):
            groups.setdefault(name.rsplit("_", 1)[0], []).append(i)
    return groups


class _Heads(nn.Module):
    """From the LSTM's last hidden state: an MLP for the H scaled shares and a linear hot head."""

    def __init__(self, cfg: LSTMConfig) -> None:
        super().__init__()
        self.drop = nn.Dropout(cfg.dropout)
        self.share = nn.Sequential(nn.Linear(cfg.hidden, cfg.hidden), nn.GELU(), nn.Linear(cfg.hidden, cfg.horizon))
        self.hot = nn.Linear(cfg.hidden, cfg.horizon) if cfg.hot_head else None

    def forward(self, last: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        last = self.drop(last)
        return self.share(last), (self.hot(last) if self.hot is not None else None)


class LSTMForecaster(nn.Module):
    """LSTM encoder over the W input steps; from its last hidden state an MLP predicts the H scaled
    future shares and a linear head the H hot logits."""

    def __init__(self, cfg: LSTMConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.lstm = nn.LSTM(cfg.n_features, cfg.hidden, num_layers=cfg.layers, batch_first=True,
                            dropout=cfg.dropout if cfg.layers > 1 else 0.0)
        self.heads = _Heads(cfg)

    @property
    def hot(self) -> nn.Module | None:
        return self.heads.hot

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x: (B, W, F) -> (scaled shares (B, H), hot logits (B, H) or None)."""
        _, (h, _) = self.lstm(x)
        return self.heads(h[-1])


class AttentionLSTMForecaster(nn.Module):
    """Per period: numeric features -> MLP (width d); each embedding group -> a token of width d; the
    text token (or a learned query when there is no text) attends over the image-side tokens and a
    learned 'nothing' token; query + attention output, normalised, is the fused image-text vector.
    [numeric, fused] per period -> LSTM -> the same heads as LSTMForecaster."""

    def __init__(self, cfg: LSTMConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.hidden
        grouped = {i for idx in cfg.groups.values() for i in idx}
        self.numeric_idx = [i for i in range(cfg.n_features) if i not in grouped]
        self.group_names = sorted(cfg.groups)
        self.numeric = nn.Sequential(nn.Linear(max(len(self.numeric_idx), 1), d), nn.GELU())
        self.tokens = nn.ModuleDict({g: nn.Linear(len(cfg.groups[g]), d) for g in self.group_names})
        self.query = nn.Parameter(torch.zeros(1, 1, d))
        self.nothing = nn.Parameter(torch.zeros(1, 1, d))
        self.attend = nn.MultiheadAttention(d, cfg.heads, dropout=cfg.dropout, batch_first=True)
        self.norm = nn.LayerNorm(d)
        self.lstm = nn.LSTM(2 * d, cfg.hidden, num_layers=cfg.layers, batch_first=True,
                            dropout=cfg.dropout if cfg.layers > 1 else 0.0)
        self.heads = _Heads(cfg)
        self.last_attention: torch.Tensor | None = None  # (B, W, keys) weights of the last forward

    @property
    def hot(self) -> nn.Module | None:
        return self.heads.hot

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x: (B, W, F) -> (scaled shares (B, H), hot logits (B, H) or None)."""
        B, W, _ = x.shape
        flat = x.reshape(B * W, -1)
        numeric = flat[:, self.numeric_idx] if self.numeric_idx else flat.new_zeros(B * W, 1)
        numeric = self.numeric(numeric)
        tokens = {g: self.tokens[g](flat[:, self.cfg.groups[g]]) for g in self.group_names}
        query = tokens.get(TEXT_SIDE)
        query = query.unsqueeze(1) if query is not None else self.query.expand(B * W, 1, -1)
        keys = [tokens[g].unsqueeze(1) for g in self.group_names if g != TEXT_SIDE]
        keys = torch.cat([self.nothing.expand(B * W, 1, -1), *keys], dim=1)
        fused, weights = self.attend(query, keys, keys, need_weights=True)
        self.last_attention = weights.detach().reshape(B, W, -1)
        fused = self.norm(query + fused).squeeze(1)
        steps = torch.cat([numeric, fused], dim=-1).reshape(B, W, -1)
        _, (h, _) = self.lstm(steps)
        return self.heads(h[-1])


NEURAL_MODELS: dict[str, type[nn.Module]] = {"lstm": LSTMForecaster, "attention": AttentionLSTMForecaster}


def build_model(cfg: LSTMConfig) -> nn.Module:
    """The neural forecaster named by cfg.kind."""
    if cfg.kind not in NEURAL_MODELS:
        raise ValueError(f"unknown neural model {cfg.kind!r}; choose from {', '.join(NEURAL_MODELS)}")
    return NEURAL_MODELS[cfg.kind](cfg)
