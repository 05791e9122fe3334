"""Image pipeline: decode -> resize -> filter -> classify 4 tiles in parallel (scikit-learn) -> aggregate.

Real work on small inputs generated at container start (no downloads): ``decode``'s init renders a bank of PNG
images (shapes on noisy backgrounds); ``classify``'s init trains a small random forest on synthetic tiles (the
cold start a model load would be). Handlers take ``(payload, ctx)``; ``ctx.state`` is what the init returned.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

SIZE = 256
TILE = 64
CLASSES = ("circle", "square", "stripes", "noise")


def _render(kind: str, rng: np.random.Generator, size: int) -> np.ndarray:
    """An RGB uint8 image of one kind of pattern, shape (size, size, 3)."""
    img = rng.normal(110, 25, (size, size, 3))
    yy, xx = np.mgrid[0:size, 0:size]
    color = rng.uniform(150, 255, 3)
    cy, cx, r = rng.uniform(0.3, 0.7) * size, rng.uniform(0.3, 0.7) * size, rng.uniform(0.2, 0.35) * size
    if kind == "circle":
        img[(yy - cy) ** 2 + (xx - cx) ** 2 < r**2] = color
    elif kind == "square":
        img[(abs(yy - cy) < r) & (abs(xx - cx) < r)] = color
    elif kind == "stripes":
        img[(xx // max(2, int(size / 16))) % 2 == 0] = color
    else:
        img = rng.uniform(0, 255, (size, size, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def make_images(n: int = 16, seed: int = 0) -> dict[str, Any]:
    """Init of ``decode``: ``n`` PNG-encoded images (bytes), one pattern kind per image in turn."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    bank = []
    for i in range(n):
        buf = io.BytesIO()
        Image.fromarray(_render(CLASSES[i % len(CLASSES)], rng, SIZE)).save(buf, format="PNG")
        bank.append(buf.getvalue())
    return {"png": bank}


def decode(request: Any, ctx: Any) -> np.ndarray:
    """Decode request ``request``'s PNG (the request id picks one image of the bank)."""
    from PIL import Image

    bank = ctx.state["png"]
    data = bank[int(request) % len(bank)] if isinstance(request, int) else request
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def resize(image: np.ndarray) -> np.ndarray:
    """Bilinear resize to 128 x 128."""
    from PIL import Image

    return np.asarray(Image.fromarray(image).resize((128, 128), Image.Resampling.BILINEAR))


def filter_image(image: np.ndarray) -> np.ndarray:
    """3 x 3 box blur then a gradient magnitude channel appended: (128, 128, 4) float32."""
    img = image.astype(np.float32) / 255.0
    pad = np.pad(img, ((1, 1), (1, 1), (0, 0)), mode="edge")
    blur = sum(pad[dy : dy + 128, dx : dx + 128] for dy in range(3) for dx in range(3)) / 9.0
    gray = blur.mean(axis=2)
    gy, gx = np.gradient(gray)
    return np.concatenate([blur, np.hypot(gx, gy)[..., None]], axis=2).astype(np.float32)


def _features(tile: np.ndarray) -> np.ndarray:
    """Colour histograms, gradient statistics and row/column periodicity of a (h, w, 4) tile."""
    hist = [np.histogram(tile[..., c], bins=8, range=(0, 1))[0] / tile[..., c].size for c in range(3)]
    grad = tile[..., 3]
    cols = np.abs(np.fft.rfft(tile[..., :3].mean(axis=(0, 2))))[1:9]
    return np.concatenate([*hist, [grad.mean(), grad.std(), (grad > 0.05).mean()], cols / (cols.sum() + 1e-9)])


def train_classifier(n_per_class: int = 16, seed: int = 1) -> Any:
    """Init of ``classify``: train a random forest on synthetic tiles (imports + training = the cold start)."""
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(seed)
    x, y = [], []
    for label, kind in enumerate(CLASSES):
        for _ in range(n_per_class):
            tile = filter_image(resize(_render(kind, rng, SIZE)))[:TILE, :TILE]
            x.append(_features(tile))
            y.append(label)
    model = RandomForestClassifier(n_estimators=16, max_depth=8, random_state=seed, n_jobs=1)
    return model.fit(np.array(x), np.array(y))


def classify(image: np.ndarray, ctx: Any) -> dict[str, Any]:
    """Copy ``k`` of 4 classifies quadrant ``k`` of the filtered image."""
    half = image.shape[0] // 2
    r, c = divmod(ctx.copy % 4, 2)
    tile = image[r * half : (r + 1) * half, c * half : (c + 1) * half]
    proba = ctx.state.predict_proba(_features(tile)[None, :])[0]
    return {"tile": ctx.copy, "label": CLASSES[int(np.argmax(proba))], "confidence": float(proba.max())}


def aggregate(tiles: list[dict[str, Any]]) -> dict[str, Any]:
    """Confidence-weighted vote over the tiles."""
    votes: dict[str, float] = {}
    for t in tiles:
        votes[t["label"]] = votes.get(t["label"], 0.0) + t["confidence"]
    label = max(votes, key=lambda k: votes[k])
    return {"label": label, "votes": votes, "tiles": len(tiles)}
