"""``demo``: six synthetic, registered IR/VIS pairs generated on first use (no download).

Each scene has a textured background and warm targets (people, vehicles): in IR the targets are hot
on a cooler, smoothly textured background; in VIS (RGB) the scene has edges and texture the IR lacks
(windows, lane markings), the targets have low contrast, and depending on the scene the image is
dark (night), hazy (low contrast), or a smoke cloud hides a target that IR still shows. IR and VIS
share the geometry exactly (registered).

The pixels are a pure function of :data:`SEED`, :data:`SIZE` and :data:`SCENES`: only
``numpy.random.Generator.random`` (PCG64, stable across numpy versions) and IEEE arithmetic
(``+ - * /``, comparisons, ``sqrt``; no ``exp`` or other library transcendentals, no float
reductions) are used, so every machine produces the same images. They are written as PNG under
``<root>/datasets/demo/test/{ir,vi}/demo_NN.png`` with a ``VERSION`` stamp; missing or stale files
are regenerated.

>>> ir, vis = render_pair(0)
>>> ir.shape, vis.shape, ir.dtype
((240, 320), (240, 320, 3), dtype('uint8'))
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import astuple, dataclass
from pathlib import Path

import numpy as np
import platformdirs

from fusionbench.datasets.base import (
    Dataset,
    DatasetError,
    PairRecord,
    VerifyReport,
    short_hash,
)
from fusionbench.io import ImageReadError, read_image, write_image_atomic, write_text_atomic

#: Bump when the drawing code changes, so that cached images are regenerated.
GENERATOR_VERSION = 1
SEED = 20240601
#: (height, width) of every image.
SIZE = (240, 320)
#: Rows above this fraction of the height are sky.
HORIZON = 0.38


@dataclass(frozen=True)
class Scene:
    """One demo pair: lighting, atmosphere and how many targets of each kind."""

    tag: str  # "day" or "night", as MSRS tags its pairs
    light: float  # VIS brightness scale (1 = daylight)
    haze: float  # 0..1, VIS contrast lost to a grey veil
    smoke: bool  # a smoke cloud hides the nearest person in VIS
    people: int
    vehicles: int


SCENES = (
    Scene("day", light=1.0, haze=0.0, smoke=False, people=2, vehicles=1),
    Scene("day", light=0.9, haze=0.55, smoke=False, people=2, vehicles=1),
    Scene("day", light=1.0, haze=0.1, smoke=True, people=2, vehicles=1),
    Scene("night", light=0.16, haze=0.0, smoke=False, people=3, vehicles=0),
    Scene("night", light=0.22, haze=0.0, smoke=True, people=2, vehicles=1),
    Scene("day", light=0.45, haze=0.35, smoke=False, people=3, vehicles=2),
)


def pair_ids() -> list[str]:
    return [f"demo_{i + 1:02d}" for i in range(len(SCENES))]


def render_pair(index: int, scene: Scene | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The IR ``(H, W)`` and VIS ``(H, W, 3)`` uint8 images of scene ``index`` (0-based).

    ``scene`` replaces ``SCENES[index]`` (same random layout, other conditions), e.g. to render a
    pair without its smoke. The layers are drawn in a fixed order from one seeded generator, so a
    scene's layout does not depend on its conditions.
    """
    scene = SCENES[index] if scene is None else scene
    rng = np.random.default_rng([SEED, index])
    h, w = SIZE
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    ir, vis, texture = _background(rng, yy)
    ir, vis = _road(xx, yy, ir, vis, texture)
    ir, vis = _buildings(rng, xx, yy, ir, vis)

    # Targets: warm in IR, low contrast in VIS; drawn far to near so that near ones occlude.
    people = [_place(rng, 18, 50) for _ in range(scene.people)]
    vehicles = [_place(rng, 28, 60) for _ in range(scene.vehicles)]
    targets = [("person", *p) for p in people] + [("vehicle", *v) for v in vehicles]
    for kind, cx, cy, size in sorted(targets, key=lambda t: t[2]):
        draw = _draw_person if kind == "person" else _draw_vehicle
        ir, vis = draw(rng, xx, yy, ir, vis, cx, cy, size)
    if scene.smoke and people:
        ir, vis = _smoke(xx, yy, ir, vis, max(people, key=lambda p: p[1]), texture["cloud"])

    # Atmosphere and lighting (VIS only), then sensor noise.
    vis = vis * (1 - scene.haze) + 0.72 * scene.haze
    vis = vis * scene.light
    vis = vis + (rng.random(vis.shape) - 0.5) * (0.02 + 0.02 * (scene.light < 0.5))
    ir = ir + (rng.random(ir.shape) - 0.5) * 0.015
    return _to_uint8(ir), _to_uint8(vis)


def _background(rng: np.random.Generator, yy: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Sky and ground. IR: cool sky, ground a little warmer, smooth low-contrast texture. VIS:
    blue-grey sky gradient, ground with grass texture. Also the noise fields later layers reuse."""
    h = SIZE[0]
    sky = yy < HORIZON * h
    ground = _value_noise(rng, SIZE, 40) * 0.6 + _value_noise(rng, SIZE, 12) * 0.4
    ir = np.where(sky, 0.14 + 0.05 * (yy / h), 0.26 + 0.10 * ground)
    fine = _value_noise(rng, SIZE, 4)
    cloud = _value_noise(rng, SIZE, 10)  # drawn for every scene, so that the layout ignores `smoke`
    vis = np.empty((*SIZE, 3))
    for c, (top, bottom) in enumerate(((0.55, 0.80), (0.65, 0.86), (0.85, 0.93))):
        vis[..., c] = top + (bottom - top) * (yy / (HORIZON * h))
    ground_colour = (0.36, 0.42, 0.30)
    for c in range(3):
        vis[..., c] = np.where(sky, vis[..., c], ground_colour[c] * (0.7 + 0.4 * ground + 0.25 * fine))
    return ir, vis, {"ground": ground, "fine": fine, "cloud": cloud}


def _road(
    xx: np.ndarray, yy: np.ndarray, ir: np.ndarray, vis: np.ndarray, texture: dict[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """A road with lane markings (visible only in VIS; the asphalt is slightly warm in IR)."""
    h = SIZE[0]
    road = (yy >= 0.62 * h) & (yy < 0.80 * h)
    ir = np.where(road, 0.31 + 0.04 * texture["ground"], ir)
    for c, value in enumerate((0.33, 0.33, 0.35)):
        vis[..., c] = np.where(road, value * (0.85 + 0.3 * texture["fine"]), vis[..., c])
    dashes = road & (np.abs(yy - 0.71 * h) < 1.5) & ((xx // 24) % 2 == 0)
    vis[dashes] = (0.92, 0.90, 0.80)
    return ir, vis


def _buildings(
    rng: np.random.Generator, xx: np.ndarray, yy: np.ndarray, ir: np.ndarray, vis: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Buildings on the horizon: uniform in IR, windows give VIS-only detail."""
    h, w = SIZE
    x = 0.0
    while x < w:
        width = 30 + 50 * rng.random()
        top = HORIZON * h - (20 + 45 * rng.random())
        if rng.random() < 0.7:
            body = (xx >= x) & (xx < x + width) & (yy >= top) & (yy < HORIZON * h)
            ir = np.where(body, 0.22 + 0.06 * rng.random(), ir)
            shade = 0.45 + 0.35 * rng.random()
            tint = (shade, shade * (0.9 + 0.1 * rng.random()), shade * (0.8 + 0.2 * rng.random()))
            for c in range(3):
                vis[..., c] = np.where(body, tint[c], vis[..., c])
            windows = body & ((xx - x) % 8 >= 3) & ((yy - top) % 10 >= 4) & (xx < x + width - 3)
            vis[windows] = (0.18, 0.22, 0.30)
        x += width + 4 + 20 * rng.random()
    return ir, vis


def _smoke(
    xx: np.ndarray,
    yy: np.ndarray,
    ir: np.ndarray,
    vis: np.ndarray,
    person: tuple[float, float, float],
    cloud: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Smoke over ``person`` (the nearest): opaque in VIS, nearly transparent to IR."""
    cx, cy, size = person
    size = max(size, 32.0)
    density = _ellipse(xx, yy, cx, cy - 0.5 * size, 0.9 * size, 1.3 * size, edge=0.5)
    alpha = np.clip(density * (0.9 + 0.2 * cloud), 0.0, 0.97)
    for c, value in enumerate((0.72, 0.72, 0.70)):
        vis[..., c] = vis[..., c] + (value - vis[..., c]) * alpha
    ir = ir - 0.05 * alpha * (ir - 0.3)
    return ir, vis


def _place(rng: np.random.Generator, near: float, far: float) -> tuple[float, float, float]:
    """Foot point and size of a target on the ground; nearer (lower) targets are bigger."""
    h, w = SIZE
    depth = rng.random()
    cy = (HORIZON + 0.06 + 0.5 * depth) * h
    size = near + (far - near) * depth
    cx = 0.08 * w + 0.84 * w * rng.random()
    return cx, cy, size


def _draw_person(rng, xx, yy, ir, vis, cx, cy, size):
    body = _ellipse(xx, yy, cx, cy - 0.45 * size, 0.17 * size, 0.42 * size)
    head = _ellipse(xx, yy, cx, cy - 0.95 * size, 0.11 * size, 0.12 * size)
    shape = np.maximum(body, head)
    ir = ir + (0.78 + 0.12 * rng.random() - ir) * shape
    clothing = [0.25 + 0.25 * rng.random() for _ in range(3)]
    for c in range(3):
        vis[..., c] = vis[..., c] + (clothing[c] - vis[..., c]) * shape
    return ir, vis


def _draw_vehicle(rng, xx, yy, ir, vis, cx, cy, size):
    length, height = 1.9 * size, 0.75 * size
    body = _box(xx, yy, cx - length / 2, cy - height, length, height)
    cabin = _box(xx, yy, cx - 0.25 * length, cy - 1.35 * height, 0.5 * length, 0.4 * height)
    engine = _ellipse(xx, yy, cx + 0.3 * length, cy - 0.5 * height, 0.18 * length, 0.25 * height)
    wheels = np.maximum(
        _ellipse(xx, yy, cx - 0.3 * length, cy, 0.1 * length, 0.24 * height),
        _ellipse(xx, yy, cx + 0.3 * length, cy, 0.1 * length, 0.24 * height),
    )
    for layer, heat in ((body, 0.50), (cabin, 0.40), (engine, 0.95), (wheels, 0.70)):
        ir = ir + (heat - ir) * layer
    paint = [0.2 + 0.5 * rng.random() for _ in range(3)]
    for c, glass in enumerate((0.55, 0.65, 0.72)):
        vis[..., c] = vis[..., c] + (paint[c] - vis[..., c]) * body
        vis[..., c] = vis[..., c] + (glass - vis[..., c]) * cabin
        vis[..., c] = vis[..., c] + (0.08 - vis[..., c]) * wheels
    return ir, vis


def _ellipse(xx, yy, cx, cy, rx, ry, edge: float = 0.25) -> np.ndarray:
    """1 inside the ellipse, falling linearly to 0 over the outer ``edge`` of the radius."""
    d = np.sqrt(((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2)
    return np.clip((1 - d) / edge, 0.0, 1.0)


def _box(xx, yy, x0, y0, width, height) -> np.ndarray:
    return ((xx >= x0) & (xx < x0 + width) & (yy >= y0) & (yy < y0 + height)).astype(np.float64)


def _value_noise(rng: np.random.Generator, shape: tuple[int, int], cell: int) -> np.ndarray:
    """Smooth noise in [0, 1]: random values on a ``cell``-pixel grid, smoothstep-interpolated."""
    h, w = shape
    grid = rng.random((h // cell + 2, w // cell + 2))
    fy, fx = np.arange(h) / cell, np.arange(w) / cell
    iy, ix = fy.astype(np.int64), fx.astype(np.int64)
    ty, tx = fy - iy, fx - ix
    ty, tx = (ty * ty * (3 - 2 * ty))[:, None], (tx * tx * (3 - 2 * tx))[None, :]
    g00, g01 = grid[iy][:, ix], grid[iy][:, ix + 1]
    g10, g11 = grid[iy + 1][:, ix], grid[iy + 1][:, ix + 1]
    top = g00 + (g01 - g00) * tx
    bottom = g10 + (g11 - g10) * tx
    return top + (bottom - top) * ty


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.floor(image * 255 + 0.5), 0, 255).astype(np.uint8)


class DemoDataset(Dataset):
    """Six generated pairs, the default dataset: nothing to download (see the module docstring)."""

    name = "demo"
    description = (
        "6 synthetic registered IR/VIS pairs (240x320) generated on first use: hot people and vehicles "
        "on a textured background; VIS RGB, dark (night), hazy, or with smoke hiding a target."
    )
    splits = ("test",)

    def version(self, split: str = "test") -> str:
        self.check_split(split)
        return short_hash(
            [f"generator {GENERATOR_VERSION}", f"seed {SEED}", f"size {SIZE}"]
            + [" ".join(map(str, astuple(scene))) for scene in SCENES]
        )

    def folder(self, data_root: str | Path | None = None) -> Path:
        """Where the generated images live: a cache folder, never the data root.

        The data root may be read-only shared data; the demo images are derived, so they go to
        ``$FUSIONBENCH_CACHE`` or else the user cache folder (platformdirs), keyed by version.
        ``data_root`` is accepted for interface compatibility and ignored.
        """
        base = os.environ.get("FUSIONBENCH_CACHE") or platformdirs.user_cache_dir("fusionbench")
        return Path(base) / "demo" / self.version()

    def pairs(self, split: str = "test", data_root: str | Path | None = None) -> list[PairRecord]:
        self.check_split(split)
        folder = self.folder(data_root)
        records = [
            PairRecord(
                id=pair_id,
                ir=folder / "ir" / f"{pair_id}.png",
                vis=folder / "vi" / f"{pair_id}.png",
                tags={"tag": scene.tag},
            )
            for pair_id, scene in zip(pair_ids(), SCENES, strict=True)
        ]
        if not self._is_current(folder, records):
            self._generate(folder)
        return records

    def _is_current(self, folder: Path, records: list[PairRecord]) -> bool:
        stamp = folder / "VERSION"
        if not stamp.is_file() or stamp.read_text("utf-8").strip() != self.version():
            return False
        return all(r.ir.is_file() and r.vis.is_file() for r in records)

    def _generate(self, folder: Path) -> None:
        try:
            for sub in ("ir", "vi"):
                (folder / sub).mkdir(parents=True, exist_ok=True)
            for index, pair_id in enumerate(pair_ids()):
                ir, vis = render_pair(index)
                write_image_atomic(folder / "ir" / f"{pair_id}.png", ir)
                write_image_atomic(folder / "vi" / f"{pair_id}.png", vis)
            write_text_atomic(folder / "VERSION", self.version() + "\n")
        except OSError as exc:
            raise DatasetError(
                f"cannot write the demo images under {folder}: {exc.strerror or exc}; "
                "set FUSIONBENCH_CACHE to a writable folder"
            ) from None

    def verify(self, split: str = "test", data_root: str | Path | None = None) -> VerifyReport:
        self.check_split(split)
        folder = self.folder(data_root)
        missing, mismatched = [], []
        for index, pair_id in enumerate(pair_ids()):
            for sub, expected in zip(("ir", "vi"), render_pair(index), strict=True):
                relative = f"{sub}/{pair_id}.png"
                if not (folder / relative).is_file():
                    missing.append(relative)
                    continue
                try:
                    same = np.array_equal(read_image(folder / relative), expected)
                except ImageReadError:
                    same = False
                if not same:
                    mismatched.append(relative)
        return VerifyReport(
            dataset=self.name,
            split=split,
            folder=folder,
            checked=2 * len(SCENES),
            missing=tuple(missing),
            mismatched=tuple(mismatched),
            check="pixels",
        )


def pixel_digest() -> str:
    """sha256 over every demo image's shape and pixels: the same on every machine."""
    digest = hashlib.sha256()
    for index in range(len(SCENES)):
        for image in render_pair(index):
            digest.update(repr(image.shape).encode())
            digest.update(image.tobytes())
    return digest.hexdigest()
