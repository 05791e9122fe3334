"""Torch networks of the hybrid Bayesian model (Aquatope §4): an LSTM encoder-decoder pretrained to forecast the
next ``k_out`` intervals, and a prediction MLP on the encoder's latent state plus target calendar features.

Dropout in the prediction network (on the latent and on hidden layers) is Monte Carlo dropout: it stays on at
inference, with masks drawn from an explicit ``torch.Generator`` so that predictions are reproducible per seed.
All tensors are float32 on CPU. This is the only module that imports torch at import time; the rest of
:mod:`aquatope.forecast` imports it when a network is built or loaded, so ``aquatope --help`` does not pay for torch.

No function here changes torch's process-wide state behind the caller's back: weights are initialised inside
``torch.random.fork_rng`` (the global generator is restored afterwards) and :func:`torch_threads` restores the
thread count it changed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from aquatope.forecast.features import N_CALENDAR, N_INPUTS

Z_90 = 1.6448536269514722  # standard normal 0.95 quantile: the head's outer quantiles bound a central 90% interval


@dataclass(frozen=True)
class NetConfig:
    """Network and training hyper-parameters (sizes in units, lr per Adam step).

    Each stage (encoder-decoder pretraining, then the prediction network) takes ``max(epochs * batches per pass,
    min_steps)`` Adam steps, so a small training set is passed over more often instead of leaving the network
    under-trained. ``quantile_head``: the networks output the median and the 5% and 95% quantiles of each target
    (pinball loss) instead of the median alone (L1 loss).
    """

    hidden: int = 32
    width: int = 64
    k_out: int = 4
    dropout: float = 0.1
    lr: float = 1e-2
    batch_size: int = 256
    epochs: int = 10
    min_steps: int = 800
    quantile_head: bool = False

    @property
    def n_out(self) -> int:
        return 3 if self.quantile_head else 1


@contextmanager
def torch_threads(n_threads: int) -> Iterator[None]:
    """Run the block with ``n_threads`` intra-op threads, then restore the previous count."""
    previous = torch.get_num_threads()
    torch.set_num_threads(int(n_threads))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def mc_dropout(x: torch.Tensor, p: float, gen: torch.Generator | None, shared: bool = False) -> torch.Tensor:
    """Dropout that is always on (inverted scaling); masks from ``gen``.

    ``shared``: ``x`` is ``(passes, ...batch..., features)`` and each pass draws ONE mask over the features for its
    whole batch (one thinned network per pass), so a function's forecast does not depend on which other functions
    are in the batch.
    """
    if p <= 0.0:
        return x
    shape = (x.shape[0], *([1] * (x.dim() - 2)), x.shape[-1]) if shared else tuple(x.shape)
    keep = torch.full(shape, 1.0 - p, dtype=x.dtype)
    return x * torch.bernoulli(keep, generator=gen) / (1.0 - p)


class EncoderDecoder(nn.Module):
    """LSTM encoder over the input window and LSTM decoder over target calendar features."""

    def __init__(self, hidden: int, n_out: int) -> None:
        super().__init__()
        self.encoder = nn.LSTM(N_INPUTS, hidden, batch_first=True)
        self.decoder = nn.LSTM(N_CALENDAR + 1, hidden, batch_first=True)
        self.head = nn.Linear(hidden, n_out)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` (batch, window, N_INPUTS) -> final (h, c), each (batch, hidden); h is the latent feature."""
        _, (h, c) = self.encoder(x)
        return h[-1], c[-1]

    def forward(self, x: torch.Tensor, future: torch.Tensor) -> torch.Tensor:
        """``future`` (batch, k, N_CALENDAR + 1) -> raw outputs (batch, k, n_out)."""
        h, c = self.encode(x)
        out, _ = self.decoder(future, (h[None], c[None]))
        return torch.as_tensor(self.head(out))


class PredictionNet(nn.Module):
    """MLP on ``[latent, target features]`` -> raw outputs of one target interval, with MC dropout."""

    def __init__(self, hidden: int, width: int, dropout: float, n_out: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(hidden + N_CALENDAR + 1, width)
        self.fc2 = nn.Linear(width, width)
        self.out = nn.Linear(width, n_out)
        self.p = dropout

    def forward(
        self, latent: torch.Tensor, feats: torch.Tensor, gen: torch.Generator | None = None, shared: bool = False
    ) -> torch.Tensor:
        """``latent`` (..., hidden), ``feats`` (..., N_CALENDAR + 1) -> (..., n_out); ``shared``: see
        :func:`mc_dropout`."""
        z = torch.cat([mc_dropout(latent, self.p, gen, shared), feats], dim=-1)
        z = mc_dropout(torch.relu(self.fc1(z)), self.p, gen, shared)
        z = mc_dropout(torch.relu(self.fc2(z)), self.p, gen, shared)
        return torch.as_tensor(self.out(z))


class BayesNet(nn.Module):
    """The encoder-decoder and the prediction network of one model (global, or one function's)."""

    def __init__(self, cfg: NetConfig) -> None:
        super().__init__()
        self.encdec = EncoderDecoder(cfg.hidden, cfg.n_out)
        self.pred = PredictionNet(cfg.hidden, cfg.width, cfg.dropout, cfg.n_out)


def seeded_net(cfg: NetConfig, seed: int) -> BayesNet:
    """A new network whose initial weights depend only on ``seed`` (torch's global generator is left as it was)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return BayesNet(cfg)


def split_outputs(raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Raw outputs (..., n_out) -> (median, 5% quantile, 95% quantile); monotone by construction (softplus gaps).
    With one output the three are equal."""
    median = raw[..., 0]
    if raw.shape[-1] == 1:
        return median, median, median
    return median, median - nn.functional.softplus(raw[..., 1]), median + nn.functional.softplus(raw[..., 2])


def head_loss(raw: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """L1 loss of the median, plus the pinball losses of the 5% and 95% quantiles for a quantile head."""
    median, lower, upper = split_outputs(raw)
    loss = torch.nn.functional.l1_loss(median, y)
    if raw.shape[-1] > 1:
        lo_err, hi_err = y - lower, y - upper
        loss = loss + torch.mean(torch.maximum(0.05 * lo_err, -0.95 * lo_err))
        loss = loss + torch.mean(torch.maximum(0.95 * hi_err, -0.05 * hi_err))
    return loss


def train_net(net: BayesNet, x: np.ndarray, feats: np.ndarray, y: np.ndarray, cfg: NetConfig, seed: int) -> list[float]:
    """Pretrain the encoder-decoder, then train the prediction net on the frozen latent (see :func:`head_loss`).

    ``x`` (n, window, N_INPUTS), ``feats`` (n, k_out, N_CALENDAR + 1), ``y`` (n, k_out). Returns the mean loss of
    each pass (pretraining first); a non-finite loss stops training early.
    """
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    xt, ft, yt = torch.from_numpy(x), torch.from_numpy(feats), torch.from_numpy(y)
    steps = max(cfg.epochs * math.ceil(len(yt) / cfg.batch_size), cfg.min_steps)
    losses = _stage(lambda b: net.encdec(xt[b], ft[b]), yt, net.encdec.parameters(), cfg, steps, rng)
    if not np.all(np.isfinite(losses)):
        return losses
    with torch.no_grad():
        latent = torch.cat([net.encdec.encode(xt[i : i + 8192])[0] for i in range(0, len(xt), 8192)])
    k = yt.shape[1]
    step = lambda b: net.pred(latent[b, None, :].expand(-1, k, -1), ft[b], gen)  # noqa: E731
    return losses + _stage(step, yt, net.pred.parameters(), cfg, steps, rng)


def _stage(
    step: Callable[[torch.Tensor], torch.Tensor],
    yt: torch.Tensor,
    params: Iterator[nn.Parameter],
    cfg: NetConfig,
    steps: int,
    rng: np.random.Generator,
) -> list[float]:
    """``steps`` Adam steps over shuffled passes of the data; the mean loss of each pass (or partial last pass)."""
    opt = torch.optim.Adam(list(params), lr=cfg.lr)
    group = [p for g in opt.param_groups for p in g["params"]]
    losses: list[float] = []
    total, seen, done = 0.0, 0, 0
    while done < steps:
        order = rng.permutation(len(yt))
        for i in range(0, len(order), cfg.batch_size):
            idx = torch.from_numpy(order[i : i + cfg.batch_size])
            loss = head_loss(step(idx), yt[idx])
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(group, 1.0)
            opt.step()
            total, seen, done = total + float(loss.detach()) * len(idx), seen + len(idx), done + 1
            if done >= steps:
                break
        losses.append(total / max(seen, 1))
        total, seen = 0.0, 0
        if not np.isfinite(losses[-1]):
            break
    return losses


@torch.no_grad()
def mc_predict(
    net: BayesNet, x: np.ndarray, feats: np.ndarray, n_passes: int, gen: torch.Generator, chunk: int = 4096
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Monte Carlo dropout: encoder once, ``n_passes`` prediction passes batched together; each pass is one thinned
    network applied to every row (shared masks), drawn from ``gen`` once for all chunks.

    ``x`` (n, window, N_INPUTS), ``feats`` (n, horizon, N_CALENDAR + 1) -> ``(median, model_var, noise_var)``, each
    (n, horizon) float64: the mean over passes of the predicted median, its variance over passes (epistemic), and
    for a quantile head the mean over passes of the squared half-width of the 90% interval over ``2 * Z_90``
    (aleatoric; zeros for a median head).
    """
    medians, model_var, noise_var = [], [], []
    state = gen.get_state()
    for i in range(0, len(x), chunk):
        gen.set_state(state)  # the same masks for every chunk
        latent, _ = net.encdec.encode(torch.from_numpy(x[i : i + chunk]))
        f = torch.from_numpy(feats[i : i + chunk])
        lat = latent[None, :, None, :].expand(n_passes, -1, f.shape[1], -1)
        raw = net.pred(lat, f[None].expand(n_passes, -1, -1, -1), gen, shared=True)
        median, lower, upper = split_outputs(raw.double())
        medians.append(median.mean(0).numpy())
        model_var.append(median.var(0, unbiased=False).numpy())
        noise_var.append((((upper - lower) / (2 * Z_90)) ** 2).mean(0).numpy())
    return np.concatenate(medians), np.concatenate(model_var), np.concatenate(noise_var)
