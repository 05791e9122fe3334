"""Torch networks of the hybrid Bayesian model (Aquatope §4): an LSTM encoder-decoder pretrained to forecast the
next ``k_out`` intervals, and a prediction MLP on the encoder's latent state plus target calendar features.

Dropout in the prediction network (on the latent and on hidden layers) is Monte Carlo dropout: it stays on at
inference, with masks drawn from an explicit ``torch.Generator`` so that predictions are reproducible per seed.
All tensors are float32 on CPU.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from aquatope.forecast.features import N_CALENDAR, N_INPUTS


@dataclass(frozen=True)
class NetConfig:
    """Network and training hyper-parameters (sizes in units, lr per Adam step)."""

    hidden: int = 32
    width: int = 64
    k_out: int = 4
    dropout: float = 0.1
    lr: float = 3e-3
    batch_size: int = 256
    pretrain_epochs: int = 6
    head_epochs: int = 6


def mc_dropout(x: torch.Tensor, p: float, gen: torch.Generator | None) -> torch.Tensor:
    """Dropout that is always on (inverted scaling); masks from ``gen`` (or torch's global RNG when ``None``)."""
    if p <= 0.0:
        return x
    keep = torch.full_like(x, 1.0 - p)
    return x * torch.bernoulli(keep, generator=gen) / (1.0 - p)


class EncoderDecoder(nn.Module):
    """LSTM encoder over the input window and LSTM decoder over target calendar features."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.encoder = nn.LSTM(N_INPUTS, hidden, batch_first=True)
        self.decoder = nn.LSTM(N_CALENDAR + 1, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` (batch, window, N_INPUTS) -> final (h, c), each (batch, hidden); h is the latent feature."""
        _, (h, c) = self.encoder(x)
        return h[-1], c[-1]

    def forward(self, x: torch.Tensor, future: torch.Tensor) -> torch.Tensor:
        """``future`` (batch, k, N_CALENDAR + 1) -> residual forecasts (batch, k)."""
        h, c = self.encode(x)
        out, _ = self.decoder(future, (h[None], c[None]))
        return torch.as_tensor(self.head(out).squeeze(-1))


class PredictionNet(nn.Module):
    """MLP on ``[latent, target features]`` -> normalized residual of one target interval, with MC dropout."""

    def __init__(self, hidden: int, width: int, dropout: float) -> None:
        super().__init__()
        self.fc1 = nn.Linear(hidden + N_CALENDAR + 1, width)
        self.fc2 = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)
        self.p = dropout

    def forward(self, latent: torch.Tensor, feats: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
        """``latent`` (..., hidden), ``feats`` (..., N_CALENDAR + 1) -> (...)."""
        z = torch.cat([mc_dropout(latent, self.p, gen), feats], dim=-1)
        z = mc_dropout(torch.relu(self.fc1(z)), self.p, gen)
        z = mc_dropout(torch.relu(self.fc2(z)), self.p, gen)
        return torch.as_tensor(self.out(z).squeeze(-1))


class BayesNet(nn.Module):
    """The encoder-decoder and the prediction network of one model (global, or one function's)."""

    def __init__(self, cfg: NetConfig) -> None:
        super().__init__()
        self.encdec = EncoderDecoder(cfg.hidden)
        self.pred = PredictionNet(cfg.hidden, cfg.width, cfg.dropout)


def _batches(n: int, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    order = rng.permutation(n)
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


def train_net(net: BayesNet, x: np.ndarray, feats: np.ndarray, y: np.ndarray, cfg: NetConfig, seed: int) -> list[float]:
    """Pretrain the encoder-decoder, then train the prediction net on the frozen latent (L1 loss on residuals).

    ``x`` (n, window, N_INPUTS), ``feats`` (n, k_out, N_CALENDAR + 1), ``y`` (n, k_out). Returns the mean loss of
    each epoch (pretraining epochs first); a non-finite loss stops training early.
    """
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    xt, ft, yt = torch.from_numpy(x), torch.from_numpy(feats), torch.from_numpy(y)
    losses: list[float] = []
    opt = torch.optim.Adam(net.encdec.parameters(), lr=cfg.lr)
    for _ in range(cfg.pretrain_epochs):
        losses.append(_epoch(lambda b: net.encdec(xt[b], ft[b]), yt, opt, cfg.batch_size, rng))
        if not np.isfinite(losses[-1]):
            return losses
    with torch.no_grad():
        latent = torch.cat([net.encdec.encode(xt[i : i + 8192])[0] for i in range(0, len(xt), 8192)])
    opt = torch.optim.Adam(net.pred.parameters(), lr=cfg.lr)
    k = yt.shape[1]
    for _ in range(cfg.head_epochs):
        step = lambda b: net.pred(latent[b, None, :].expand(-1, k, -1), ft[b], gen)  # noqa: E731
        losses.append(_epoch(step, yt, opt, cfg.batch_size, rng))
        if not np.isfinite(losses[-1]):
            return losses
    return losses


def _epoch(
    step: object, yt: torch.Tensor, opt: torch.optim.Optimizer, batch_size: int, rng: np.random.Generator
) -> float:
    total, n = 0.0, 0
    for b in _batches(len(yt), batch_size, rng):
        idx = torch.from_numpy(b)
        pred = step(idx)  # type: ignore[operator]
        loss = torch.nn.functional.l1_loss(pred, yt[idx])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for g in opt.param_groups for p in g["params"]], 1.0)
        opt.step()
        total += float(loss.detach()) * len(b)
        n += len(b)
    return total / max(n, 1)


@torch.no_grad()
def mc_predict(
    net: BayesNet, x: np.ndarray, feats: np.ndarray, n_passes: int, gen: torch.Generator, chunk: int = 4096
) -> tuple[np.ndarray, np.ndarray]:
    """Monte Carlo dropout: encoder once, ``n_passes`` prediction passes batched together.

    ``x`` (n, window, N_INPUTS), ``feats`` (n, horizon, N_CALENDAR + 1) -> (mean, var) of the normalized residual,
    each (n, horizon) float64.
    """
    means, variances = [], []
    for i in range(0, len(x), chunk):
        latent, _ = net.encdec.encode(torch.from_numpy(x[i : i + chunk]))
        f = torch.from_numpy(feats[i : i + chunk])
        lat = latent[None, :, None, :].expand(n_passes, -1, f.shape[1], -1)
        draws = net.pred(lat, f[None].expand(n_passes, -1, -1, -1), gen).double()
        means.append(draws.mean(0).numpy())
        variances.append(draws.var(0, unbiased=False).numpy())
    return np.concatenate(means), np.concatenate(variances)
