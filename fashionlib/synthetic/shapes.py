"""Geometry of the figure and its garments, in body units (height 1, v downwards, u to the image's right)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fashionlib.synthetic.plan import _CATEGORY_TYPE

# ---------------------------------------------------------------------------
# Geometry: a figure in body units (height 1, v downwards, u to the image's right)
# ---------------------------------------------------------------------------

HEAD_C, HEAD_R = (0.0, 0.068), (0.045, 0.058)
NECK_TOP, NECK_V, NECK_W = 0.11, 0.14, 0.024
SH_V, ARMPIT_V, WAIST_V, HIP_V, CROTCH_V, KNEE_V, ANKLE_V, FOOT_V = (
    0.165, 0.245, 0.385, 0.475, 0.525, 0.715, 0.935, 0.975)
CHEST_W, WAIST_W, ARM_LEN = 0.095, 0.078, 0.33
SLEEVE_LEN = {"short": 0.3, "three_quarter": 0.7, "long": 1.0}

Point = tuple[float, float]


@dataclass
class Pose:
    """One image's pose: arm angle, leg spread, body widths, whole-figure tilt."""

    arm: float  # radians from vertical, outwards
    spread: float  # extra half-distance between the ankles
    sw: float  # shoulder half-width
    hw: float  # hip half-width
    tilt: float  # radians, whole figure


@dataclass
class Shape:
    """A garment (or body) drawing in body units."""

    add: list[list[Point]] = field(default_factory=list)  # polygons that make the mask
    cut: list[list[Point]] = field(default_factory=list)  # polygons removed from the mask (face opening)
    details: list[tuple] = field(default_factory=list)  # ("line"|"poly"|"dot", points, colour key, width)
    landmarks: list[Point] = field(default_factory=list)


def _arm(pose: Pose, s: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the shoulder joint, the arm direction and the outward normal for side s (-1 left, +1 right)."""
    joint = np.array([s * (pose.sw - 0.02), SH_V + 0.012])
    d = np.array([s * math.sin(pose.arm), math.cos(pose.arm)])
    n = np.array([s * math.cos(pose.arm), -math.sin(pose.arm)])
    return joint, d, n


def _leg_x(pose: Pose, v: float) -> float:
    """Return the right leg's centre line at height v."""
    return 0.048 + pose.spread * max(0.0, v - CROTCH_V) / (ANKLE_V - CROTCH_V)


def _mirror(points: list[Point]) -> list[Point]:
    return [(-u, v) for u, v in points]


def _symmetric(right: list[Point], center_top: Point | None = None, center_bottom: Point | None = None) -> list[Point]:
    """Return a polygon from its right half (top to bottom) mirrored onto the left."""
    poly = ([center_top] if center_top else []) + right + ([center_bottom] if center_bottom else [])
    return poly + _mirror(right)[::-1]


def _torso(item: dict[str, Any], pose: Pose, hem: float, hem_w: float) -> tuple[list[Point], Point]:
    """Return the upper-body polygon of a top or bodice, and its right collar point."""
    fit = item["fit"]
    cw, ww, hipw = CHEST_W * fit + 0.01, WAIST_W * fit + 0.01, pose.hw * fit + 0.01
    neck = item["neck"]
    nw, dip = {"crew": (0.036, NECK_V + 0.03), "v": (0.036, 0.25), "scoop": (0.05, 0.215),
               "strap": (0.045, 0.215)}[neck]
    sleeveless = item["sleeve"] == "none"
    right: list[Point] = [(nw, NECK_V + (0.01 if neck in ("scoop", "strap") else 0))]
    if sleeveless:
        strap = 0.03 if neck == "strap" else 0.05
        right += [(nw + strap, SH_V - 0.005), (cw, ARMPIT_V + 0.02)]
    else:
        right += [(pose.sw + 0.008, SH_V), (cw, ARMPIT_V)]
    if hem > WAIST_V + 0.02:
        right.append((ww, WAIST_V))
    if hem > HIP_V + 0.02:
        right.append((hipw, HIP_V))
    right.append((max(hem_w, cw * 0.9), hem))
    return _symmetric(right, (0.0, dip), None), right[0]


def _sleeves(item: dict[str, Any], pose: Pose, shape: Shape) -> None:
    """Add both sleeves (or armholes) and the sleeve landmarks."""
    kind = item["sleeve"]
    for s in (-1, 1):
        joint, d, n = _arm(pose, s)
        if kind == "none":
            shape.landmarks.append((s * (CHEST_W * item["fit"] + 0.01), ARMPIT_V + 0.015))
            continue
        length = SLEEVE_LEN[kind]
        w_end = {"short": 0.045, "three_quarter": 0.036, "long": 0.031}[kind] + 0.006 * (item["fit"] - 1) * 10
        end = joint + d * length * ARM_LEN
        shoulder = (s * (pose.sw + 0.008), SH_V)
        armpit = (s * (CHEST_W * item["fit"] + 0.008), ARMPIT_V)
        poly = [shoulder, tuple(end + n * w_end), tuple(end - n * w_end), armpit]
        shape.add.append(poly)
        shape.landmarks.append((float(end[0]), float(end[1])))
        if item["cuffs"] and kind == "long":
            a, b = end - d * 0.03, end
            shape.details.append(("poly", [tuple(a + n * w_end), tuple(b + n * w_end), tuple(b - n * w_end),
                                           tuple(a - n * w_end)], "shade", 0))


def _pants(item: dict[str, Any], pose: Pose, top: float, hem: float, shape: Shape) -> None:
    """Add a two-legged lower garment from height ``top`` to ``hem`` with waist and hem landmarks."""
    ww = WAIST_W * 1.02 + 0.012
    hipw = pose.hw * 1.04 + 0.012
    legs = item["legs"]
    open_w = {"skinny": 0.03, "straight": 0.04, "tapered": 0.031, "wide": 0.055}[legs]
    if hem < KNEE_V:
        open_w = max(open_w, 0.05 + 0.01 * (item["fit"] - 1) * 10)
    cx = _leg_x(pose, hem)
    knee_cx = _leg_x(pose, KNEE_V)
    knee_w = {"skinny": 0.033, "straight": 0.042, "tapered": 0.042, "wide": 0.052}[legs]
    right: list[Point] = [(ww, top), (hipw, HIP_V)]
    inner: list[Point] = []
    if hem > KNEE_V + 0.05:
        right.append((knee_cx + knee_w, KNEE_V))
        inner = [(max(knee_cx - knee_w, 0.008), KNEE_V)]
    if item["fray"]:  # jagged hem of cut-off shorts
        xs = np.linspace(cx + open_w, max(cx - open_w, 0.006), 7)
        right += [(float(x), hem + (0.012 if j % 2 else 0.0)) for j, x in enumerate(xs)]
    else:
        right += [(cx + open_w, hem), (max(cx - open_w, 0.006), hem)]
    right += inner[::-1]
    right.append((0.0, CROTCH_V + 0.006))
    poly = right[:-1] + [right[-1]] + _mirror(right[:-1])[::-1]
    shape.add.append(poly)
    shape.landmarks += [(ww * 0.9, top + 0.012), (-ww * 0.9, top + 0.012), (cx, hem - 0.01), (-cx, hem - 0.01)]


def _skirt(item: dict[str, Any], pose: Pose, top: float, hem: float, shape: Shape) -> list[Point]:
    """Add a skirt polygon from ``top`` to ``hem``; return its right hem corner."""
    hipw = pose.hw * 1.05 + 0.012
    ww = WAIST_W * item["fit"] + 0.012
    hem_w = hipw + item["flare"] * max(hem - HIP_V, 0.05) + 0.01
    spread_w = max(hem_w, _leg_x(pose, hem) + 0.045) if hem > KNEE_V else hem_w  # cover the legs
    right: list[Point] = [(ww, top)]
    if top < HIP_V - 0.02:
        right.append((hipw, HIP_V))
    right.append((spread_w, hem))
    shape.add.append(_symmetric(right))
    if item["pleats"]:
        for k in range(1, 6):
            f = k / 6 * 2 - 1
            shape.details.append(("line", [(f * ww, top + 0.02), (f * spread_w, hem)], "shade", 1))
    return [(spread_w * 0.85, hem - 0.01)]


def garment_shape(category: str, item: dict[str, Any], pose: Pose) -> Shape:
    """Return the garment's polygons, details and landmarks (in body units) for one pose."""
    shape = Shape()
    ctype = _CATEGORY_TYPE[category]
    fit = item["fit"]
    if ctype in (1, 3):
        if ctype == 1:
            hem, top_hem_w = item["hem"], pose.hw * fit + 0.01 + item["flare"] * 0.1
        elif category == "Coat":
            hem, top_hem_w = item["hem"], pose.hw * fit + 0.02 + item["flare"] * 0.2
        else:
            hem, top_hem_w = WAIST_V + 0.015, WAIST_W * fit + 0.012
        torso, collar = _torso(item, pose, hem, top_hem_w)
        if category == "Coat" and hem > KNEE_V:  # a long coat must cover both legs
            torso = [(np.sign(u) * max(abs(u), _leg_x(pose, hem) + 0.05) if v >= hem - 1e-9 else u, v)
                     for u, v in torso]
        shape.add.append(torso)
        shape.landmarks += [collar, (-collar[0], collar[1])]
        _sleeves(item, pose, shape)
        if item["hood"]:
            cx, cy = HEAD_C
            ring = [(cx + 0.078 * math.cos(t), cy + 0.012 + 0.09 * math.sin(t))
                    for t in np.linspace(math.pi * 0.85, math.pi * 2.15, 14)]
            shape.add.append(ring + [(0.06, NECK_V + 0.02), (-0.06, NECK_V + 0.02)])
            shape.cut.append([(HEAD_C[0] + HEAD_R[0] * 1.05 * math.cos(t), HEAD_C[1] + 0.008 + HEAD_R[1] * math.sin(t))
                              for t in np.linspace(0, 2 * math.pi, 16, endpoint=False)])
        if ctype == 1:
            shape.landmarks += [(top_hem_w * 0.9, hem - 0.012), (-top_hem_w * 0.9, hem - 0.012)]
        _upper_details(category, item, pose, hem, top_hem_w, shape)
    if ctype == 3 and category != "Coat":
        waist = WAIST_W * fit + 0.012
        shape.landmarks += [(waist, WAIST_V + 0.01), (-waist, WAIST_V + 0.01)]
        if category == "Dress":
            hem_pts = _skirt(item, pose, WAIST_V, item["hem"], shape)
            shape.landmarks += [hem_pts[0], (-hem_pts[0][0], hem_pts[0][1])]
        else:
            lower = Shape()
            _pants(item, pose, WAIST_V, item["hem"], lower)
            shape.add += lower.add
            shape.landmarks += lower.landmarks[2:]
        if item["belt"]:
            shape.details.append(("poly", [(-waist, WAIST_V - 0.008), (waist, WAIST_V - 0.008),
                                           (waist, WAIST_V + 0.014), (-waist, WAIST_V + 0.014)], "accent", 0))
    elif category == "Coat":
        waist = WAIST_W * fit + 0.012
        shape.landmarks = shape.landmarks[:4] + [(waist, WAIST_V), (-waist, WAIST_V)] + shape.landmarks[4:]
        hem_w = max(pose.hw * fit + 0.02, _leg_x(pose, item["hem"]) + 0.05)
        shape.landmarks += [(hem_w * 0.9, item["hem"] - 0.012), (-hem_w * 0.9, item["hem"] - 0.012)]
        if item["belt"]:
            shape.details.append(("poly", [(-waist - 0.01, WAIST_V - 0.01), (waist + 0.01, WAIST_V - 0.01),
                                           (waist + 0.01, WAIST_V + 0.012), (-waist - 0.01, WAIST_V + 0.012)],
                                  "outline", 0))
    if ctype == 2:
        top = item["top"]
        if category == "Skirt":
            ww = WAIST_W * fit + 0.012
            hem_pts = _skirt(item, pose, top, item["hem"], shape)
            shape.landmarks += [(ww * 0.9, top + 0.012), (-ww * 0.9, top + 0.012), hem_pts[0],
                                (-hem_pts[0][0], hem_pts[0][1])]
        else:
            _pants(item, pose, top, item["hem"], shape)
        _lower_details(category, item, pose, top, shape)
    return shape


def _upper_details(category: str, item: dict[str, Any], pose: Pose, hem: float, hem_w: float, shape: Shape) -> None:
    """Add seams, bands, pockets, lapels, buttons and prints to a top."""
    d = shape.details
    if category in ("Sweater", "Hoodie"):
        d.append(("poly", [(-hem_w, hem - 0.03), (hem_w, hem - 0.03), (hem_w, hem), (-hem_w, hem)], "shade", 0))
    if item["pocket"]:
        d.append(("line", [(-0.06, 0.46), (-0.045, 0.39), (0.045, 0.39), (0.06, 0.46)], "outline", 1))
    if item["zip"]:
        d.append(("line", [(0.0, NECK_V + 0.03), (0.0, hem)], "outline", 1))
    if item["drawstring"] and item["hood"]:
        d += [("line", [(s * 0.025, NECK_V + 0.025), (s * 0.03, 0.25)], "light", 1) for s in (-1, 1)]
    if item["lapel"]:
        # Open front: a light shirt in the V, lapels folded over it.
        d.append(("poly", [(-0.035, NECK_V), (0.035, NECK_V), (0.0, 0.3)], "light", 0))
        d += [("line", [(s * 0.036, NECK_V), (s * 0.075, 0.2), (s * 0.05, 0.22), (0.0, 0.31)], "outline", 1)
              for s in (-1, 1)]
        d.append(("line", [(0.0, 0.31), (0.0, hem)], "outline", 1))
        for k in range(item["buttons"]):
            v = 0.34 + k * 0.06
            d.append(("dot", [(0.02, v)], "outline", 0.009))
            if category == "Coat":
                d.append(("dot", [(-0.045, v)], "outline", 0.009))
    if item["texture"] == "graphic":
        kind = item["graphic"]
        if kind == 0:
            d.append(("poly", [(-0.05, 0.2), (0.05, 0.2), (0.05, 0.3), (-0.05, 0.3)], "accent", 0))
            d.append(("poly", [(-0.03, 0.22), (0.03, 0.22), (0.0, 0.28)], "second", 0))
        elif kind == 1:
            d.append(("dot", [(0.0, 0.26)], "accent", 0.05))
            d.append(("dot", [(0.0, 0.26)], "second", 0.025))
        else:
            star = [(0.055 * (1 if k % 2 == 0 else 0.45) * math.sin(k * math.pi / 5),
                     0.26 - 0.055 * (1 if k % 2 == 0 else 0.45) * math.cos(k * math.pi / 5)) for k in range(10)]
            d.append(("poly", star, "accent", 0))


def _lower_details(category: str, item: dict[str, Any], pose: Pose, top: float, shape: Shape) -> None:
    """Add waistband, fly, pockets, drawstring and cuffs to a lower garment."""
    d = shape.details
    ww = WAIST_W * 1.02 + 0.012 if category != "Skirt" else WAIST_W * item["fit"] + 0.012
    d.append(("line", [(-ww, top + 0.022), (ww, top + 0.022)], "outline" if category != "Joggers" else "shade", 1))
    if category in ("Jeans", "Cutoffs", "Shorts", "Jumpsuit"):
        d.append(("line", [(0.004, top + 0.022), (0.004, CROTCH_V - 0.01)], "second" if item["texture"] == "denim"
                  else "outline", 1))
    if item["pocket"]:
        d += [("line", [(s * (ww - 0.035), top + 0.022), (s * (ww - 0.005), top + 0.07)],
               "second" if item["texture"] == "denim" else "outline", 1) for s in (-1, 1)]
    if item["drawstring"]:
        d += [("line", [(s * 0.008, top + 0.02), (s * 0.015, top + 0.08)], "light", 1) for s in (-1, 1)]
    if item["cuffs"] and category == "Joggers":
        for s in (-1, 1):
            cx = _leg_x(pose, item["hem"])
            d.append(("poly", [(s * (cx - 0.033), item["hem"] - 0.03), (s * (cx + 0.033), item["hem"] - 0.03),
                               (s * (cx + 0.033), item["hem"]), (s * (cx - 0.033), item["hem"])], "shade", 0))


def body_shape(pose: Pose) -> tuple[list[list[Point]], list[list[Point]], list[list[Point]]]:
    """Return the mannequin's skin polygons, its hair polygon and its shoes (body units)."""
    skin: list[list[Point]] = []
    for s in (-1, 1):  # legs
        top_o, knee, ankle = pose.hw, _leg_x(pose, KNEE_V), _leg_x(pose, ANKLE_V)
        skin.append([(s * top_o, HIP_V - 0.01), (s * (knee + 0.034), KNEE_V), (s * (ankle + 0.022), ANKLE_V),
                     (s * (ankle - 0.022), ANKLE_V), (s * max(knee - 0.034, 0.004), KNEE_V), (s * 0.004, CROTCH_V)])
    for s in (-1, 1):  # arms and hands
        joint, d, n = _arm(pose, s)
        wrist = joint + d * ARM_LEN
        skin.append([tuple(joint + n * 0.032), tuple(wrist + n * 0.021), tuple(wrist - n * 0.021),
                     tuple(joint - n * 0.03)])
        hand = wrist + d * 0.03
        skin.append([tuple(hand + 0.024 * np.array([math.cos(t), math.sin(t) * 1.3])) for t in np.linspace(0, 6.28, 10)])
    skin.append(_symmetric([(NECK_W, NECK_TOP), (NECK_W, NECK_V), (pose.sw, SH_V + 0.006), (CHEST_W, ARMPIT_V),
                            (WAIST_W, WAIST_V), (pose.hw, HIP_V), (pose.hw * 0.7, CROTCH_V)]))
    head = [(HEAD_C[0] + HEAD_R[0] * math.cos(t), HEAD_C[1] + HEAD_R[1] * math.sin(t))
            for t in np.linspace(0, 2 * math.pi, 20, endpoint=False)]
    skin.append(head)
    hair = [[(HEAD_C[0] + HEAD_R[0] * 1.08 * math.cos(t), HEAD_C[1] - 0.006 + HEAD_R[1] * 1.05 * math.sin(t))
             for t in np.linspace(math.pi * 0.95, math.pi * 2.05, 12)]]
    shoes = []
    for s in (-1, 1):
        ax = _leg_x(pose, ANKLE_V)
        shoes.append([(s * ax + s * 0.012 + 0.036 * math.cos(t), FOOT_V - 0.018 + 0.02 * math.sin(t))
                      for t in np.linspace(0, 2 * math.pi, 12, endpoint=False)])
    return skin, hair, shoes
