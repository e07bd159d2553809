"""Scenes of 1-3 coloured shapes rendered with NumPy, each with a caption generated from the scene.

A scene puts each shape (circle, square or triangle; red, green or blue) in its own third of the
image, left to right, at a random height and with a little jitter, on a noisy dark background. Its
caption names the shapes from left to right: "a red circle left of a blue square". Nothing is
downloaded: the same seed renders the same scenes.
"""
import numpy as np

COLOURS = {"red": (0.9, 0.15, 0.1), "green": (0.1, 0.8, 0.2), "blue": (0.15, 0.3, 0.95)}
SHAPES = ("circle", "square", "triangle")


def _mask(shape, size, cx, cy, r):
    y, x = np.mgrid[:size, :size] + 0.5
    if shape == "circle":
        return (x - cx) ** 2 + (y - cy) ** 2 <= r * r
    if shape == "square":
        return (np.abs(x - cx) <= r * 0.85) & (np.abs(y - cy) <= r * 0.85)
    # an upward triangle: apex at the top, base at the bottom, half-width growing with depth
    depth = (y - (cy - r)) / (2 * r)
    return (depth >= 0) & (depth <= 1) & (np.abs(x - cx) <= depth * r)


def render_scene(rng, size=32):
    """(image (size, size, 3) float32 in [0, 1], caption) of one random scene."""
    n = int(rng.integers(1, 4))
    columns = np.sort(rng.choice(3, n, replace=False))
    image = rng.uniform(0.0, 0.15, (size, size, 3))
    words = []
    r = size / 8
    for col in columns:
        colour, shape = rng.choice(list(COLOURS)), rng.choice(SHAPES)
        cx = (col + 0.5) * size / 3 + rng.uniform(-1.0, 1.0)
        cy = rng.uniform(r + 1, size - r - 1)
        image[_mask(shape, size, cx, cy, r)] = COLOURS[colour]
        words.append(f"a {colour} {shape}")
    return image.astype(np.float32), " left of ".join(words)


def shape_scenes(n, seed=0, size=32):
    """n scenes: images (n, size, size, 3) float32 and their captions."""
    rng = np.random.default_rng(seed)
    scenes = [render_scene(rng, size) for _ in range(n)]
    return np.stack([s[0] for s in scenes]), [s[1] for s in scenes]


def image_patches(images, patch, stride=None):
    """(n, H, W, C) -> (n, P, patch·patch·C): square windows every `stride` pixels (default: patch,
    no overlap), row by row. Overlapping windows (stride < patch) see whole objects that straddle a
    boundary, which is what a convolution's windows do."""
    stride = patch if stride is None else stride
    n, H, W, C = images.shape
    if patch > min(H, W) or (H - patch) % stride or (W - patch) % stride:
        raise ValueError(f"image_patches: windows of {patch} every {stride} pixels must tile the image size {H}x{W}")
    windows = np.lib.stride_tricks.sliding_window_view(images, (patch, patch), axis=(1, 2))[:, ::stride, ::stride]
    rows, cols = windows.shape[1:3]
    windows = windows.transpose(0, 1, 2, 4, 5, 3)  # (n, rows, cols, patch, patch, C)
    return np.ascontiguousarray(windows.reshape(n, rows * cols, patch * patch * C))
