"""Drawing one image: textures, backgrounds, the figure and its garment; the tight box and landmarks."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from fashionlib.synthetic.plan import MEDIUM_AREA, SIZE_MIX, SMALL_AREA, ImageSpec, _hsv, _pick, size_class
from fashionlib.synthetic.shapes import Point, Pose, body_shape, garment_shape

# ---------------------------------------------------------------------------
# Textures (NumPy, over the garment's box only)
# ---------------------------------------------------------------------------


def _cells(rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray, p: float, k: int) -> tuple:
    """Return per-pixel cell-local offsets (dy, dx) from a jittered cell centre and k random values per pixel."""
    iy, ix = np.floor(yy / p).astype(np.int32), np.floor(xx / p).astype(np.int32)
    table = rng.uniform(size=(int(iy.max()) + 2, int(ix.max()) + 2, k + 2)).astype(np.float32)
    vals = table[iy, ix]
    dy = (yy - iy * p) - p * (0.3 + 0.4 * vals[..., 0])
    dx = (xx - ix * p) - p * (0.3 + 0.4 * vals[..., 1])
    return dy, dx, vals[..., 2:]


def _texture(rng: np.random.Generator, item: dict[str, Any], h: int, w: int, unit: float) -> np.ndarray:
    """Return an (h, w, 3) float32 pattern for the garment's texture at ``unit`` pixels per body height."""
    c1, c2, c3 = (np.array(c, dtype=np.float32) for c in item["colors"])
    kind = item["texture"]
    p = max(2.5, item["period"] * unit)  # pattern period in pixels, tied to the garment's size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    yy = yy[:, :1] if kind in ("hstripe",) else yy
    out = np.empty((h, w, 3), dtype=np.float32)
    out[:] = c1

    def put(mask: np.ndarray, color: np.ndarray, alpha: float = 1.0) -> None:
        mask = np.broadcast_to(mask, (h, w))
        if alpha >= 1:
            out[mask] = color
        else:
            out[mask] = out[mask] * (1 - alpha) + color * alpha

    if kind == "hstripe":
        put((yy / p) % 1.0 < 0.45, c2)
    elif kind == "vstripe":
        put((xx / p) % 1.0 < (0.45 if item["period"] > 0.03 else 0.15), c2)
    elif kind == "dots":
        q = p * 1.6
        row = np.floor(yy / q)
        dx = ((xx + (row % 2) * q / 2) % q) - q / 2
        dy = (yy % q) - q / 2
        put(dx * dx + dy * dy < (q * 0.25) ** 2, c2)
    elif kind == "plaid":
        q = p * 3
        put((yy % q) < q * 0.35, c2, 0.55)
        put((xx % q) < q * 0.35, c2, 0.55)
        put(np.abs((yy % q) - q * 0.68) < max(0.6, q * 0.04), c3, 0.8)
        put(np.abs((xx % q) - q * 0.68) < max(0.6, q * 0.04), c3, 0.8)
    elif kind == "floral":
        q = p * 2.6
        dy, dx, vals = _cells(rng, yy, xx, q, 3)
        r = np.sqrt(dx * dx + dy * dy)
        ang = np.arctan2(dy, dx) + vals[..., 0] * 6.28
        size = q * (0.25 + 0.2 * vals[..., 1])
        petals = (r < size * (0.55 + 0.45 * np.abs(np.cos(2.5 * ang)))) & (vals[..., 2] < 0.85)
        two = vals[..., 2] < 0.4
        put(petals & two, c2)
        put(petals & ~two, c3)
        put((r < size * 0.25) & (vals[..., 2] < 0.85), np.array([235, 200, 60], np.float32))
    elif kind == "colorblock":
        fy, fx = yy / max(h - 1, 1), xx / max(w - 1, 1)
        if item["block"] == 0:
            put(fy > 0.5, c2)
        elif item["block"] == 1:
            put(fy + 0.6 * fx > 0.8, c2)
        else:
            put(np.abs(fx - 0.5) > 0.3, c2)
            put(fy < 0.25, c3)
    elif kind == "chevron":
        zig = np.abs(((xx / p) % 2.0) - 1.0) * p
        band = np.floor((yy + zig) / p).astype(np.int32) % 3
        put(band == 1, c2)
        put(band == 2, c3)
    elif kind == "animal":
        q = p * 2.2
        dy, dx, vals = _cells(rng, yy, xx, q, 2)
        r = np.sqrt(dx * dx + (dy * 1.3) ** 2) * (1 + 0.25 * np.sin(3 * np.arctan2(dy, dx) + 6.28 * vals[..., 0]))
        size = q * (0.2 + 0.12 * vals[..., 1])
        put(r < size * 1.45, c3)
        put(r < size, c2)
    elif kind == "heathered":
        streak = rng.standard_normal((h, 1), dtype=np.float32) * 0.4
        out *= 1 + 0.08 * (rng.standard_normal((h, w, 1), dtype=np.float32) * 0.7 + streak[..., None])
    elif kind == "knit":
        q = max(2.0, p * 0.5)
        out *= (1 + 0.13 * np.cos(2 * np.pi * xx / q))[..., None]
        out *= 1 + 0.04 * rng.standard_normal((h, w, 1), dtype=np.float32)
    elif kind == "denim":
        twill = 0.05 * np.sin(2 * np.pi * (xx + yy) / 3.0)
        cols = rng.standard_normal((1, w), dtype=np.float32) * 0.04
        out *= (1 + twill + cols)[..., None] + 0.07 * rng.standard_normal((h, w, 1), dtype=np.float32)
    elif kind == "leather":
        sx, sy = rng.uniform(0.2, 0.8), rng.uniform(0.1, 0.5)
        spec = np.exp(-(((xx / max(w, 1) - sx) ** 2) / 0.03 + ((yy / max(h, 1) - sy) ** 2) / 0.08))
        out += (spec * 70)[..., None]
    elif kind == "lace":
        q = p * 1.3
        dy, dx, _ = _cells(rng, yy, xx, q, 1)
        r = np.sqrt(dx * dx + dy * dy)
        put((r < q * 0.18) | (np.abs(r - q * 0.32) < max(0.5, q * 0.05)), c2)
    return out


# ---------------------------------------------------------------------------
# Backgrounds (lower contrast and saturation than the garments)
# ---------------------------------------------------------------------------


def _muted(rng: np.random.Generator, s_max: float = 0.28, v: tuple[float, float] = (0.5, 0.95)) -> np.ndarray:
    return np.array(_hsv(rng.uniform(), rng.uniform(0, s_max), rng.uniform(*v)), dtype=np.float32)


def _background(rng: np.random.Generator, full_w: int, full_h: int, flat: bool) -> Image.Image:
    """Return a background image: studio, gradient, room, floor, clutter or blurred noise.

    It is drawn at half resolution and scaled up: softer than the garments, and four times cheaper.
    """
    w, h = (full_w + 1) // 2, (full_h + 1) // 2
    kinds = {"studio": 30, "gradient": 15, "room": 25, "clutter": 20, "noise": 10}
    if flat:
        kinds = {"studio": 35, "gradient": 20, "floor": 30, "clutter": 15}
    kind = _pick(rng, kinds)
    yy = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    xx = np.linspace(0, 1, w, dtype=np.float32)[None, :, None]
    a, b = _muted(rng), _muted(rng)
    if kind == "studio":
        base = np.empty((h, w, 3), np.float32)
        base[:] = a + (b - a) * 0.35 * yy
        r2 = (xx - 0.5) ** 2 + (yy - 0.45) ** 2
        base *= 1 - rng.uniform(0, 0.25) * r2
    elif kind == "gradient":
        t = rng.uniform(0, 2 * np.pi)
        proj = np.cos(t) * xx + np.sin(t) * yy
        proj = (proj - proj.min()) / max(float(np.ptp(proj)), 1e-6)
        base = a + (b - a) * proj
    elif kind == "noise":
        grid = rng.uniform(0, 1, size=(int(rng.integers(3, 8)), int(rng.integers(3, 8)), 3)) * 255
        small = Image.fromarray(grid.astype(np.uint8))
        base = np.asarray(small.resize((w, h), Image.Resampling.BICUBIC), dtype=np.float32)
        gray = base.mean(axis=2, keepdims=True)
        base = gray + (base - gray) * 0.35  # desaturate
        base = base * 0.6 + a * 0.4
    else:
        base = np.empty((h, w, 3), np.float32)
        base[:] = a
        if kind in ("room", "floor"):
            horizon = rng.uniform(0.55, 0.85) if kind == "room" else -1.0
            floor = _muted(rng, 0.4, (0.3, 0.75))
            planks = rng.uniform(0.88, 1.1, size=(h, 1, 1)).astype(np.float32)
            plank_h = max(2, int(rng.integers(3, 10)))
            planks = np.repeat(planks[::plank_h], plank_h, axis=0)[:h]
            below = (yy >= horizon)
            base = np.where(below, floor * planks, base * (1 + 0.04 * np.sin(xx * rng.uniform(20, 80))))
    img = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img, "RGBA")
    n_shapes = {"room": int(rng.integers(1, 5)), "clutter": int(rng.integers(8, 40)), "floor": int(rng.integers(0, 3))}
    for _ in range(n_shapes.get(kind, int(rng.integers(0, 3)))):
        c = tuple(int(x) for x in _muted(rng, 0.35, (0.3, 0.95))) + (int(rng.integers(60, 200)),)
        x0, y0 = rng.uniform(-0.1, 1.0) * w, rng.uniform(-0.1, 1.0) * h
        sw, sh = rng.uniform(0.05, 0.45) * w, rng.uniform(0.05, 0.45) * h
        shape = int(rng.integers(4))
        if shape == 0:
            draw.rectangle([x0, y0, x0 + sw, y0 + sh], fill=c)
        elif shape == 1:
            draw.ellipse([x0, y0, x0 + sw, y0 + sh], fill=c)
        elif shape == 2:
            draw.line([x0, y0, x0 + sw * rng.choice([-1, 1]), y0 + sh], fill=c, width=int(rng.integers(1, 3)))
        else:
            pts = [(x0 + rng.uniform(0, sw), y0 + rng.uniform(0, sh)) for _ in range(3)]
            draw.polygon(pts, fill=c)
    if kind == "room" and rng.uniform() < 0.5:  # a window or picture frame
        x0, y0 = rng.uniform(0, 0.7) * w, rng.uniform(0, 0.3) * h
        fw, fh = rng.uniform(0.15, 0.35) * w, rng.uniform(0.15, 0.3) * h
        frame = tuple(int(x) for x in _muted(rng, 0.2, (0.4, 0.7)))
        draw.rectangle([x0, y0, x0 + fw, y0 + fh], fill=tuple(int(x) for x in _muted(rng, 0.15, (0.8, 1.0))),
                       outline=frame, width=1)
        draw.line([x0 + fw / 2, y0, x0 + fw / 2, y0 + fh], fill=frame, width=1)
    if rng.uniform() < 0.1:  # a hard negative: a saturated, outlined handbag
        bw = rng.uniform(0.08, 0.2) * w
        x0, y0 = rng.uniform(0, 1) * (w - bw), rng.uniform(0.3, 0.95) * (h - bw)
        col = tuple(_hsv(rng.uniform(), rng.uniform(0.5, 0.9), rng.uniform(0.4, 0.8)))
        dark = tuple(int(c * 0.35) for c in col)
        draw.arc([x0 + bw * 0.2, y0 - bw * 0.35, x0 + bw * 0.8, y0 + bw * 0.35], 180, 360, fill=dark, width=1)
        draw.rounded_rectangle([x0, y0, x0 + bw, y0 + bw * 0.75], radius=bw * 0.12, fill=col, outline=dark, width=1)
    out = np.asarray(img, dtype=np.float32)
    mean = out.mean(axis=(0, 1), keepdims=True)
    out = mean + (out - mean) * rng.uniform(0.55, 0.95)  # lower contrast than the garment
    img = Image.fromarray(np.clip(out, 0, 255).astype(np.uint8)).resize((full_w, full_h), Image.Resampling.BILINEAR)
    if rng.uniform() < 0.3:  # out of focus
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 1.5)))
    return img


# ---------------------------------------------------------------------------
# Rendering one image
# ---------------------------------------------------------------------------

SKIN = ((241, 194, 167), (224, 172, 138), (198, 134, 103), (161, 102, 74), (112, 72, 52), (236, 204, 180),
        (214, 214, 210), (190, 188, 184))  # the last two: a grey mannequin
HAIR = ((35, 25, 20), (70, 45, 25), (120, 85, 45), (200, 165, 100), (20, 20, 20))


@dataclass
class RenderedImage:
    """One drawn image with its annotations."""

    image: Image.Image
    mask: np.ndarray  # bool (H, W): visible garment pixels
    bbox: tuple[int, int, int, int]  # x_1, y_1, x_2, y_2 (x_2 exclusive)
    landmarks: list[tuple[int, int, int]]  # (visibility, x, y)
    flat: bool  # laid flat (no mannequin)

    @property
    def size_class(self) -> str:
        """Return the COCO size class of the box."""
        x1, y1, x2, y2 = self.bbox
        return size_class((x2 - x1) * (y2 - y1))


def _image_size(rng: np.random.Generator) -> tuple[int, int]:
    """Return (width, height): long side 300 (a few 301), short side varies, mostly portrait."""
    long = 301 if rng.uniform() < 0.03 else 300
    r = rng.uniform()
    if r < 0.72:
        return int(rng.integers(180, 301)), long
    if r < 0.9:
        return long, int(rng.integers(200, 300))
    return long, long


def _target_area(rng: np.random.Generator, w: int, h: int) -> float:
    """Return a garment box area drawn from the small / medium / large mix."""
    # Each class's range ends where the next begins, so box sides form one continuous distribution
    # (no empty bands at the COCO thresholds of 32 and 96 px).
    r = rng.uniform()
    if r < SIZE_MIX[0]:
        return float(np.exp(rng.uniform(np.log(300), np.log(SMALL_AREA))))
    if r < SIZE_MIX[0] + SIZE_MIX[1]:
        return float(np.exp(rng.uniform(np.log(SMALL_AREA), np.log(MEDIUM_AREA))))
    return max(float(MEDIUM_AREA), rng.uniform(0.18, 0.75) * w * h)


def _erode(mask: np.ndarray, steps: int) -> np.ndarray:
    """Return ``mask`` eroded by ``steps`` pixels (8-neighbourhood); pixels beyond the border count as outside."""
    out = np.pad(mask, steps)
    for _ in range(steps):
        out = (out[1:-1, 1:-1] & out[:-2, 1:-1] & out[2:, 1:-1] & out[1:-1, :-2] & out[1:-1, 2:]
               & out[:-2, :-2] & out[:-2, 2:] & out[2:, :-2] & out[2:, 2:])
        out = np.pad(out, 1)
    return out[steps:-steps, steps:-steps] if steps else out


def render_image(spec: ImageSpec) -> RenderedImage:
    """Return one drawn image, its garment mask, tight box and landmarks (deterministic in (seed, index))."""
    rng = np.random.default_rng([spec.seed, spec.index, 0xFA5])
    item = spec.item
    w, h = _image_size(rng)
    flat = rng.uniform() < 0.25
    pose = Pose(arm=rng.uniform(0.55, 0.9) if flat else rng.uniform(0.08, 0.45),
                spread=rng.uniform(0.02, 0.06) if flat else rng.uniform(0.0, 0.05),
                sw=rng.uniform(0.105, 0.125), hw=rng.uniform(0.088, 0.104), tilt=rng.uniform(-0.08, 0.08))
    shape = garment_shape(spec.category, item, pose)

    # Scale and place: the garment's box gets the target area and lies inside the image (or, rarely, is cut).
    pts = np.concatenate([np.asarray(p, dtype=np.float64) for p in shape.add])
    center = (pts.min(0) + pts.max(0)) / 2
    rot = np.array([[math.cos(pose.tilt), -math.sin(pose.tilt)], [math.sin(pose.tilt), math.cos(pose.tilt)]])
    rp = (pts - center) @ rot.T
    lo, hi = rp.min(0), rp.max(0)
    ext = hi - lo
    margin = 2.0
    scale = math.sqrt(_target_area(rng, w, h) / (ext[0] * ext[1]))
    scale = min(scale, (w - 2 * margin) / ext[0], (h - 2 * margin) / ext[1])
    cut = scale * ext[1] > 0.6 * h and rng.uniform() < 0.06  # let a big garment run off one edge
    box_lo, box_hi = lo * scale, hi * scale
    free_lo = margin - box_lo
    free_hi = np.array([w, h]) - margin - box_hi
    if cut:
        free_hi[1] += 0.15 * scale * ext[1]
    pos = free_lo + rng.uniform(size=2) * np.maximum(free_hi - free_lo, 0)

    def to_px(points: list[Point] | np.ndarray) -> list[tuple[float, float]]:
        arr = (np.asarray(points, dtype=np.float64) - center) @ rot.T * scale + pos
        return [(float(x), float(y)) for x, y in arr]

    canvas = _background(rng, w, h, flat)
    draw = ImageDraw.Draw(canvas)
    if not flat:
        skin_c = SKIN[int(rng.integers(len(SKIN)))]
        edge = tuple(int(c * 0.82) for c in skin_c)
        skin, hair, shoes = body_shape(pose)
        for poly in shoes:
            draw.polygon(to_px(poly), fill=tuple(int(x) for x in _muted(rng, 0.3, (0.1, 0.5))))
        for poly in skin:
            draw.polygon(to_px(poly), fill=skin_c, outline=edge)
        if skin_c not in SKIN[-2:]:
            draw.polygon(to_px(hair[0]), fill=HAIR[int(rng.integers(len(HAIR)))])

    # Garment mask: union of its polygons minus cut-outs.
    mask_img = Image.new("L", (w, h), 0)
    mdraw = ImageDraw.Draw(mask_img)
    for poly in shape.add:
        mdraw.polygon(to_px(poly), fill=255)
    for poly in shape.cut:
        mdraw.polygon(to_px(poly), fill=0)
    mask = np.asarray(mask_img) > 0
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    y1, y2, x1, x2 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1

    # Texture, lighting and details over the box only.
    bh, bw = y2 - y1, x2 - x1
    tex = _texture(rng, item, bh, bw, scale)
    gy = np.linspace(-0.5, 0.5, bh, dtype=np.float32)[:, None]
    gx = np.linspace(-0.5, 0.5, bw, dtype=np.float32)[None, :]
    light = 1 + rng.uniform(-0.18, 0.18) * gx + rng.uniform(-0.12, 0.12) * gy
    if spec.category in ("Dress", "Skirt", "Coat", "Top") and bw > 20:  # soft folds
        light = light + 0.06 * np.sin(gx * rng.uniform(8, 20) + rng.uniform(0, 6.28)) * (gy + 0.5)
    tex *= light[..., None]
    garment = Image.fromarray(np.clip(tex, 0, 255).astype(np.uint8))
    colors = item["colors"]
    main = np.array(colors[0], dtype=np.float32)
    outline = tuple(int(c) for c in main * 0.35)
    palette = {"outline": outline, "shade": tuple(int(c) for c in main * 0.78), "accent": tuple(colors[1]),
               "second": tuple(colors[2]), "light": (238, 236, 230)}
    if scale >= 110:  # details only where they are big enough to see
        gdraw = ImageDraw.Draw(garment)
        offset = np.array([x1, y1], dtype=np.float64)
        for kind, points, key, width in shape.details:
            px = [(x - offset[0], y - offset[1]) for x, y in to_px(points)]
            if kind == "poly":
                gdraw.polygon(px, fill=palette[key])
            elif kind == "line":
                gdraw.line(px, fill=palette[key], width=max(1, int(round(scale * 0.004 * max(width, 1)))))
            else:
                r = width * scale
                (cx, cy), = px
                gdraw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=palette[key])
    # Dark outline along the garment's edge: the mask minus its erosion.
    sub = mask[y1:y2, x1:x2]
    inner = _erode(sub, 1 if scale < 250 else 2)
    gar = np.asarray(garment, dtype=np.uint8).copy()
    gar[sub & ~inner] = outline
    region = np.asarray(canvas, dtype=np.uint8).copy()
    region[y1:y2, x1:x2][sub] = gar[sub]

    # Camera: a little sensor noise and a colour cast over everything.
    out = region.astype(np.float32)
    out *= rng.uniform(0.93, 1.07, size=3).astype(np.float32)
    out += rng.standard_normal((h, w, 1), dtype=np.float32) * rng.uniform(0.5, 4.0)
    image = Image.fromarray(np.clip(out, 0, 255).astype(np.uint8))

    landmarks = []
    for u, v in to_px(shape.landmarks):
        x, y = int(round(u)), int(round(v))
        if not (0 <= x < w and 0 <= y < h):
            landmarks.append((2, 0, 0))  # truncated: outside the image
        else:
            landmarks.append((1 if rng.uniform() < 0.04 else 0, x, y))
    return RenderedImage(image=image, mask=mask, bbox=(x1, y1, x2, y2), landmarks=landmarks, flat=flat)
