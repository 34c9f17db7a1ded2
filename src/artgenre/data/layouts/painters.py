"""The synthetic set's painters: one procedural drawing style per artist (:data:`PAINTERS`) and
the :func:`photograph` step every image then goes through (colour cast, exposure, contrast, noise,
sometimes blur), so that the mean colour alone does not give the class away."""

from __future__ import annotations

import colorsys
import math
from collections.abc import Callable, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

__all__ = ["PAINTERS", "Painter", "photograph"]

Color = tuple[int, int, int]
Painter = Callable[[np.random.Generator, int, int], Image.Image]


# --------------------------------------------------------------------------- helpers


def _jitter(rng: np.random.Generator, color: Sequence[float], amount: float = 20) -> Color:
    c = np.clip(np.asarray(color, dtype=float) + rng.uniform(-amount, amount, 3), 0, 255)
    return (int(c[0]), int(c[1]), int(c[2]))


def _pick(rng: np.random.Generator, palette: Sequence[Color]) -> Color:
    return palette[int(rng.integers(len(palette)))]


def _hsv(h: float, s: float, v: float) -> Color:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, min(max(s, 0.0), 1.0), min(max(v, 0.0), 1.0))
    return (int(r * 255), int(g * 255), int(b * 255))


def _ellipse(cx: float, cy: float, rx: float, ry: float, angle: float = 0.0, n: int = 24) -> list[tuple[float, float]]:
    # PIL's ellipse cannot rotate; a polygon can.
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    x, y = rx * np.cos(t), ry * np.sin(t)
    ca, sa = math.cos(angle), math.sin(angle)
    return [(float(cx + ca * a - sa * b), float(cy + sa * a + ca * b)) for a, b in zip(x, y)]


def _gradient(w: int, h: int, top: Color, bottom: Color) -> np.ndarray:
    t = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    col = (1 - t) * np.asarray(top, np.float32) + t * np.asarray(bottom, np.float32)
    return np.broadcast_to(col, (h, w, 3)).copy()


def _to_image(a: np.ndarray) -> Image.Image:
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))  # H x W x 3 uint8 is RGB


def _points(pts: np.ndarray) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in pts]


# --------------------------------------------------------------------------- one style per artist


def _mondrian(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    img = Image.new("RGB", (w, h), _jitter(rng, (236, 234, 225), 12))
    d = ImageDraw.Draw(img)
    xs = sorted(int(v) for v in rng.choice(np.arange(10, w - 10), size=int(rng.integers(2, 5)), replace=False))
    ys = sorted(int(v) for v in rng.choice(np.arange(10, h - 10), size=int(rng.integers(2, 5)), replace=False))
    xe, ye = [0, *xs, w], [0, *ys, h]
    cells = [(xe[i], ye[j], xe[i + 1], ye[j + 1]) for i in range(len(xe) - 1) for j in range(len(ye) - 1)]
    primaries = [(200, 30, 30), (30, 50, 160), (240, 200, 30), (20, 20, 20)]
    for k in rng.choice(len(cells), size=min(len(cells), int(rng.integers(1, 5))), replace=False):
        d.rectangle(cells[int(k)], fill=_jitter(rng, _pick(rng, primaries), 20))
    width = int(rng.integers(2, 6))
    for x in xs:
        d.line([(x, 0), (x, h)], fill=(15, 15, 15), width=width)
    for y in ys:
        d.line([(0, y), (w, y)], fill=(15, 15, 15), width=width)
    return img


def _pollock(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    ground = (205, 190, 155) if rng.random() < 0.6 else (50, 45, 40)
    img = Image.new("RGB", (w, h), _jitter(rng, ground, 20))
    d = ImageDraw.Draw(img)
    palette = [(15, 15, 15), (240, 238, 230), (185, 45, 35), (225, 185, 55), (125, 125, 130), (55, 105, 120)]
    for _ in range(int(rng.integers(40, 110))):
        start = rng.uniform((0, 0), (w, h))
        path = np.cumsum(np.vstack([start, rng.normal(0, 0.08 * w, (int(rng.integers(2, 7)), 2))]), axis=0)
        d.line(_points(path), fill=_jitter(rng, _pick(rng, palette), 25), width=int(rng.integers(1, 4)))
    for x, y, r in zip(rng.uniform(0, w, 50), rng.uniform(0, h, 50), rng.uniform(0.5, 2.5, 50)):
        d.ellipse([x - r, y - r, x + r, y + r], fill=_pick(rng, palette))
    return img


def _warhol(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    n = int(rng.choice([2, 3]))
    img = Image.new("RGB", (w, h))
    d = ImageDraw.Draw(img)
    motif = int(rng.integers(3))  # the same motif repeats in every tile, as in a silkscreen series
    hue0, tw, th = rng.random(), w / n, h / n
    for i in range(n):
        for j in range(n):
            hue = hue0 + (i * n + j) / (n * n) + rng.normal(0, 0.03)
            x0, y0 = i * tw, j * th
            cx, cy, s = x0 + tw / 2, y0 + th / 2, 0.35 * min(tw, th)
            d.rectangle([x0, y0, x0 + tw, y0 + th], fill=_hsv(hue, 0.85, 0.95))
            fg, ink = _hsv(hue + 0.5, 0.9, 0.9), (10, 10, 10)
            if motif == 0:  # a portrait: face and hair
                d.ellipse([cx - s, cy - 1.1 * s, cx + s, cy + 0.2 * s], fill=_hsv(hue + 0.25, 0.9, 0.9))
                d.ellipse([cx - 0.7 * s, cy - 0.8 * s, cx + 0.7 * s, cy + 0.9 * s], fill=fg, outline=ink)
                d.line([(cx - 0.35 * s, cy - 0.1 * s), (cx - 0.1 * s, cy - 0.1 * s)], fill=ink, width=2)
                d.line([(cx + 0.1 * s, cy - 0.1 * s), (cx + 0.35 * s, cy - 0.1 * s)], fill=ink, width=2)
                d.line([(cx - 0.3 * s, cy + 0.5 * s), (cx + 0.3 * s, cy + 0.5 * s)], fill=(200, 20, 40), width=2)
            elif motif == 1:  # a soup can
                d.rectangle([cx - 0.6 * s, cy - s, cx + 0.6 * s, cy + s], fill=fg, outline=ink)
                d.rectangle([cx - 0.6 * s, cy - 0.2 * s, cx + 0.6 * s, cy + 0.3 * s], fill=(245, 245, 240))
                d.ellipse([cx - 0.6 * s, cy - 1.15 * s, cx + 0.6 * s, cy - 0.85 * s], fill=(200, 200, 205), outline=ink)
            else:  # a flower
                for a in np.linspace(0, 2 * np.pi, 4, endpoint=False):
                    px, py = cx + 0.5 * s * math.cos(a), cy + 0.5 * s * math.sin(a)
                    d.ellipse([px - 0.45 * s, py - 0.45 * s, px + 0.45 * s, py + 0.45 * s], fill=fg, outline=ink)
                d.ellipse([cx - 0.25 * s, cy - 0.25 * s, cx + 0.25 * s, cy + 0.25 * s], fill=ink)
    return img


def _sisley(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    horizon = rng.uniform(0.35, 0.7) * h
    sky, land = _jitter(rng, (165, 198, 225), 15), _jitter(rng, (125, 158, 105), 20)
    a = _gradient(w, h, _jitter(rng, (205, 220, 235), 10), sky)
    a[int(horizon) :] = _gradient(w, h - int(horizon), land, _jitter(rng, (150, 140, 100), 15))
    img = _to_image(a)
    d = ImageDraw.Draw(img)
    n = int(w * h / 40)  # dab density, independent of the canvas size
    xs, ys = rng.uniform(0, w, n), rng.uniform(0, h, n)
    rx, squash = rng.uniform(1.0, 3.5, n), rng.uniform(0.35, 0.8, n)
    tint = rng.uniform(-28, 28, (n, 3))
    for x, y, r, q, t in zip(xs, ys, rx, squash, tint):
        base = np.asarray(sky if y < horizon else land) + t + 12  # pastel: a little lighter
        c = np.clip(base, 0, 255).astype(int)
        d.ellipse([x - r, y - r * q, x + r, y + r * q], fill=(int(c[0]), int(c[1]), int(c[2])))
    return img


def _rublev(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    gold = _jitter(rng, (196, 155, 64), 18)
    img = Image.new("RGB", (w, h), gold)
    d = ImageDraw.Draw(img)
    frame = int(rng.integers(3, 8))  # the dark border of an icon panel
    d.rectangle([0, 0, w - 1, h - 1], outline=_jitter(rng, (90, 55, 30), 15), width=frame)
    cx = w / 2 + rng.normal(0, 0.04 * w)
    head_y, head_r = rng.uniform(0.22, 0.32) * h, rng.uniform(0.08, 0.11) * min(w, h) * 1.3
    robe = _jitter(rng, _pick(rng, [(110, 30, 25), (30, 45, 90), (40, 65, 50), (70, 40, 60)]), 15)
    sw, bw = rng.uniform(0.18, 0.26) * w, rng.uniform(0.28, 0.38) * w
    shoulder_y = head_y + 1.2 * head_r
    d.pieslice([cx - sw, shoulder_y - sw * 0.6, cx + sw, shoulder_y + sw * 0.6], 180, 360, fill=robe)  # arched top
    d.polygon([(cx - sw, shoulder_y), (cx + sw, shoulder_y), (cx + bw, h - frame), (cx - bw, h - frame)], fill=robe)
    halo = 1.8 * head_r
    d.ellipse([cx - halo, head_y - halo, cx + halo, head_y + halo], fill=_jitter(rng, (228, 190, 95), 10),
              outline=_jitter(rng, (120, 80, 35), 10), width=2)
    d.ellipse([cx - head_r * 0.8, head_y - head_r, cx + head_r * 0.8, head_y + head_r],
              fill=_jitter(rng, (180, 130, 85), 12))
    eye_y = head_y - 0.15 * head_r
    for dx in (-0.35, 0.35):  # large icon eyes
        d.ellipse([cx + dx * head_r - 2, eye_y - 1, cx + dx * head_r + 2, eye_y + 1], fill=(40, 25, 15))
    for _ in range(int(rng.integers(2, 6))):  # gold highlights on the robe
        y = rng.uniform(shoulder_y, h - frame)
        d.line([(cx - 0.6 * sw, y), (cx + rng.uniform(-0.2, 0.6) * sw, y + rng.uniform(5, 15))], fill=gold, width=1)
    return img


def _picasso(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    palette = [(140, 105, 70), (175, 140, 85), (95, 80, 65), (150, 150, 140), (60, 55, 50), (200, 180, 140),
               (120, 90, 60)]
    img = Image.new("RGB", (w, h), _jitter(rng, (150, 130, 100), 25))
    d = ImageDraw.Draw(img, "RGBA")  # translucent facets: overlapping planes, as in analytic cubism
    for _ in range(int(rng.integers(8, 20))):
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.15, 0.45) * min(w, h)
        angles = np.sort(rng.uniform(0, 2 * np.pi, int(rng.integers(3, 6))))
        radii = r * rng.uniform(0.5, 1.0, len(angles))
        pts = np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], axis=1)
        c = _jitter(rng, _pick(rng, palette), 20)
        d.polygon(_points(pts), fill=(*c, int(rng.integers(140, 235))), outline=(25, 20, 15, 255))
    for _ in range(int(rng.integers(2, 7))):
        p = rng.uniform((0, 0), (w, h), (2, 2))
        d.line(_points(p), fill=(20, 18, 15, 255), width=int(rng.integers(1, 3)))
    return img


def _rembrandt(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    dark = np.asarray(_jitter(rng, (28, 20, 12), 10), np.float32)
    warm = np.asarray(_jitter(rng, (185, 135, 80), 20), np.float32)
    cx, cy = rng.uniform(0.35, 0.65) * w, rng.uniform(0.3, 0.5) * h
    r = rng.uniform(0.18, 0.32) * min(w, h)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    light = np.exp(-((xx - cx) ** 2 + ((yy - cy) / 1.3) ** 2) / (2 * r * r))[..., None]
    img = _to_image(dark + light * (warm - dark))
    d = ImageDraw.Draw(img)
    fr = rng.uniform(0.35, 0.55) * r
    d.polygon(_ellipse(cx, cy, fr, 1.3 * fr, rng.normal(0, 0.15)), fill=_jitter(rng, (222, 172, 118), 15))
    if rng.random() < 0.6:  # a white collar under the face
        d.pieslice([cx - 1.6 * fr, cy + 0.9 * fr, cx + 1.6 * fr, cy + 2.4 * fr], 0, 180,
                   fill=_jitter(rng, (215, 205, 185), 15))
    beret = _jitter(rng, (35, 25, 15), 8)
    d.ellipse([cx - 1.3 * fr, cy - 1.7 * fr, cx + 1.3 * fr, cy - 0.7 * fr], fill=beret)
    return img.filter(ImageFilter.GaussianBlur(rng.uniform(1.0, 2.5)))


def _titian(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    top, bottom = _jitter(rng, (40, 50, 100), 20), _jitter(rng, (120, 65, 35), 20)
    if rng.random() < 0.5:
        top, bottom = bottom, top
    img = _to_image(_gradient(w, h, top, bottom))
    d = ImageDraw.Draw(img)
    palette = [(170, 30, 30), (25, 40, 120), (225, 175, 135), (200, 150, 70), (130, 20, 35)]
    for _ in range(int(rng.integers(3, 7))):
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        rx, ry = rng.uniform(0.15, 0.45) * w, rng.uniform(0.15, 0.45) * h
        d.polygon(_ellipse(cx, cy, rx, ry, rng.uniform(0, np.pi)), fill=_jitter(rng, _pick(rng, palette), 20))
    return img.filter(ImageFilter.GaussianBlur(rng.uniform(0.04, 0.08) * min(w, h)))


def _modigliani(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    ground = _jitter(rng, _pick(rng, [(175, 95, 55), (190, 140, 75), (135, 55, 45), (150, 110, 80)]), 15)
    img = Image.new("RGB", (w, h), ground)
    d = ImageDraw.Draw(img)
    cx, tilt = w / 2 + rng.normal(0, 0.05 * w), rng.normal(0, 0.12)
    fy, frx, fry = rng.uniform(0.25, 0.32) * h, rng.uniform(0.09, 0.13) * w, rng.uniform(0.16, 0.22) * h
    skin = _jitter(rng, (215, 150, 100), 15)
    body = _jitter(rng, _pick(rng, [(40, 40, 60), (70, 35, 30), (30, 30, 30)]), 12)
    neck_top, neck_bottom = fy + 0.7 * fry, fy + fry + rng.uniform(0.14, 0.2) * h  # the long neck
    d.polygon([(cx - 0.42 * w, h), (cx + 0.42 * w, h), (cx + 0.22 * w, neck_bottom), (cx - 0.22 * w, neck_bottom)],
              fill=body)
    d.rectangle([cx - 0.35 * frx, neck_top, cx + 0.35 * frx, neck_bottom + 4], fill=skin)
    d.polygon(_ellipse(cx, fy - 0.3 * fry, 1.1 * frx, 0.9 * fry, tilt), fill=_jitter(rng, (45, 30, 25), 10))  # hair
    d.polygon(_ellipse(cx, fy, frx, fry, tilt), fill=skin)
    eye = (40, 55, 80) if rng.random() < 0.5 else (30, 25, 20)  # blank blue or dark almond eyes
    for dx in (-0.45, 0.45):
        d.polygon(_ellipse(cx + dx * frx, fy - 0.2 * fry, 0.22 * frx, 0.07 * fry, tilt), fill=eye)
    d.line([(cx, fy - 0.15 * fry), (cx + 0.05 * frx, fy + 0.3 * fry)], fill=(150, 95, 60), width=1)
    d.ellipse([cx - 0.15 * frx, fy + 0.5 * fry, cx + 0.15 * frx, fy + 0.6 * fry], fill=(170, 50, 45))
    return img


def _kahlo(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    img = Image.new("RGB", (w, h), _jitter(rng, (45, 105, 55), 20))
    d = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(20, 40))):  # the flat wall of leaves behind the sitter
        leaf = _ellipse(rng.uniform(0, w), rng.uniform(0, h), rng.uniform(5, 14), rng.uniform(2, 5),
                        rng.uniform(0, np.pi), 12)
        d.polygon(leaf, fill=_jitter(rng, _pick(rng, [(30, 90, 40), (80, 140, 60), (20, 60, 35)]), 15))
    for _ in range(int(rng.integers(4, 12))):
        x, y, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(3, 7)
        petals = _jitter(rng, _pick(rng, [(220, 40, 60), (240, 200, 40), (240, 120, 170)]), 15)
        d.ellipse([x - r, y - r, x + r, y + r], fill=petals)
        d.ellipse([x - 1.5, y - 1.5, x + 1.5, y + 1.5], fill=(250, 240, 200))
    cx, fy = w / 2 + rng.normal(0, 0.03 * w), rng.uniform(0.3, 0.38) * h
    fr = rng.uniform(0.1, 0.13) * min(w, h)
    dress = _jitter(rng, _pick(rng, [(190, 30, 40), (240, 235, 220), (30, 120, 130), (220, 150, 30)]), 15)
    shoulder_y = fy + 1.6 * fr
    d.polygon([(cx - 0.38 * w, h), (cx + 0.38 * w, h), (cx + 0.2 * w, shoulder_y), (cx - 0.2 * w, shoulder_y)],
              fill=dress)
    skin = _jitter(rng, (185, 125, 85), 12)
    d.rectangle([cx - 0.35 * fr, fy + 0.8 * fr, cx + 0.35 * fr, fy + 1.7 * fr], fill=skin)
    d.ellipse([cx - 1.1 * fr, fy - 1.4 * fr, cx + 1.1 * fr, fy + 0.2 * fr], fill=(25, 18, 15))  # hair
    d.ellipse([cx - 0.8 * fr, fy - fr, cx + 0.8 * fr, fy + fr], fill=skin)
    d.line([(cx - 0.55 * fr, fy - 0.35 * fr), (cx + 0.55 * fr, fy - 0.35 * fr)], fill=(20, 15, 10), width=2)  # the brow
    for dx in (-0.8, 0.0, 0.8):  # flowers in the hair
        x, y = cx + dx * fr, fy - 1.5 * fr
        d.ellipse([x - 3, y - 3, x + 3, y + 3], fill=_hsv(rng.uniform(0.9, 1.1), 0.8, 0.9))
    return img


def _van_gogh(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    img = Image.new("RGB", (w, h), _jitter(rng, (35, 55, 120), 15))
    d = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(60, 120))):  # swirling strokes
        x, y, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(4, 18)
        start = rng.uniform(0, 360)
        d.arc([x - r, y - r, x + r, y + r], start, start + rng.uniform(60, 200),
              fill=_jitter(rng, _pick(rng, [(240, 210, 70), (90, 130, 200), (230, 230, 210)]), 20), width=2)
    base = rng.uniform(0.2, 0.4) * w
    d.polygon([(base - 10, h), (base + 10, h), (base, rng.uniform(0.2, 0.5) * h)], fill=(25, 45, 25))  # a cypress
    return img


def _monet(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    img = _to_image(_gradient(w, h, _jitter(rng, (90, 140, 150), 15), _jitter(rng, (40, 90, 100), 15)))
    d = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(10, 25))):  # water lilies
        x, y, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(4, 10)
        d.polygon(_ellipse(x, y, r, 0.4 * r, 0.0, 12), fill=_jitter(rng, (70, 130, 60), 15))
        if rng.random() < 0.5:
            d.ellipse([x - 2, y - 2, x + 2, y + 2], fill=_jitter(rng, (235, 170, 190), 15))
    return img


# Keyed by artist name: adding an artist means adding one function and one entry.
PAINTERS: dict[str, Painter] = {
    "Pablo Picasso": _picasso,
    "Rembrandt": _rembrandt,
    "Alfred Sisley": _sisley,
    "Titian": _titian,
    "Amedeo Modigliani": _modigliani,
    "Andy Warhol": _warhol,
    "Frida Kahlo": _kahlo,
    "Andrei Rublev": _rublev,
    "Piet Mondrian": _mondrian,
    "Jackson Pollock": _pollock,
    "Vincent van Gogh": _van_gogh,
    "Claude Monet": _monet,
}


def photograph(rng: np.random.Generator, img: Image.Image) -> Image.Image:
    """Colour cast, exposure, contrast, noise and blur, as if every painting were photographed
    under a different light: this makes colour statistics overlap across classes."""
    a = np.asarray(img, dtype=np.float32)
    a = a * rng.uniform(0.7, 1.3, 3)  # colour cast
    a = a * rng.uniform(0.65, 1.35) + rng.uniform(-35, 35)  # exposure
    mean = a.mean()
    a = (a - mean) * rng.uniform(0.6, 1.2) + mean  # contrast
    a = a + rng.normal(0.0, rng.uniform(0.0, 15.0), a.shape)
    out = _to_image(a)
    if rng.random() < 0.3:
        out = out.filter(ImageFilter.GaussianBlur(rng.uniform(0.4, 1.2)))
    return out
