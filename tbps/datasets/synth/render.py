"""A fast PIL renderer of pedestrian-like figures.

:func:`render_person` draws one view of an identity (see
:mod:`.attributes`): head, hair, optional hat, upper garment with long or
short sleeves, trousers / shorts / skirt / dress, shoes and a backpack,
hand bag or shoulder bag. Views differ in side (front, back, left, right),
walking pose, scale and position, background, lighting, noise and an
optional occluder. Shapes are drawn at twice the output resolution and
down-sampled, which anti-aliases edges.

Body landmarks are fractions of the figure height measured from the top
of the head for an adult; children get a larger head and the rest of the
body is compressed accordingly (:meth:`_Figure.y`).
"""
import colorsys
import math
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from .attributes import COLORS, HAIR_COLORS, SKIN_TONES

SUPERSAMPLE = 2
VIEWS = ('front', 'back', 'left', 'right')

# Adult landmarks (fraction of figure height from the top of the head).
HEAD, SHOULDER, CHEST, WAIST, HIP, CROTCH = 0.13, 0.165, 0.24, 0.42, 0.49, 0.53
KNEE, ANKLE, SOLE, WRIST = 0.73, 0.955, 1.0, 0.50
HEMS = dict(shirt=0.515, jacket=0.525, coat=0.69)
SKIRT_HEMS = dict(short=0.665, long=0.885)
SHORTS_HEM = 0.645


def _clip8(v) -> int:
    return int(min(255.0, max(0.0, v)))


def _jitter(rgb, rng, amount):
    return tuple(_clip8(c + d) for c, d in zip(rgb, rng.normal(0, amount, 3)))


def _shade(rgb, f):
    return tuple(_clip8(c * f) for c in rgb)


def _muted_color(rng, saturated=False):
    """A background-ish colour: mostly low saturation."""
    h = rng.random()
    s = rng.uniform(0.35, 0.6) if saturated else rng.uniform(0.0, 0.35)
    v = rng.uniform(0.3, 0.85)
    return tuple(int(c * 255) for c in colorsys.hsv_to_rgb(h, s, v))


class _Palette:
    """Identity-level colours, with a small per-identity jitter."""

    def __init__(self, ident: Dict):
        rng = np.random.default_rng(ident['appearance_seed'])
        self.skin = _jitter(SKIN_TONES[ident['skin']], rng, 6)
        self.hair = _jitter(HAIR_COLORS[ident['hair_color']], rng, 6)
        self.upper = _jitter(COLORS[ident['upper_color']], rng, 7)
        self.lower = self.upper if ident['lower_kind'] == 'dress' else \
            _jitter(COLORS[ident['lower_color']], rng, 7)
        self.shoes = _jitter(COLORS[ident['shoes_color']], rng, 6)
        self.bag = _jitter(COLORS[ident['bag_color']], rng, 6)
        self.hat = _jitter(COLORS[ident['hat_color']], rng, 6)
        self.bag_side = 1 if rng.random() < 0.5 else -1
        self.stance = rng.uniform(0.025, 0.05)


class _Figure:
    """Maps body landmarks to canvas pixels for one view."""

    def __init__(self, ident, height, cx, feet_y, facing):
        self.child = ident['age'] == 'child'
        self.head = 0.165 if self.child else HEAD
        self.h = height
        self.cx = cx
        self.top = feet_y - height
        self.facing = facing  # +1 right, -1 left, 0 front/back
        female = ident['gender'] == 'female'
        build = (-0.012, 0.0, 0.014)[ident['build']]
        k = 1.12 if self.child else 1.0
        self.shoulder = ((0.108 if female else 0.126) + build) * k
        self.waist = ((0.080 if female else 0.095) + build) * k
        self.hip = ((0.106 if female else 0.096) + build) * k
        self.head_w = (0.062 if self.child else 0.05)
        self.arm = 0.056 * k
        self.leg = 0.056 * k

    def y(self, f):
        """Canvas y of adult landmark fraction ``f``."""
        if f > HEAD:
            f = self.head + (f - HEAD) * (1 - self.head) / (1 - HEAD)
        elif f > 0:
            f = f * self.head / HEAD
        return self.top + f * self.h

    def x(self, d):
        return self.cx + d * self.h

    def pt(self, dx, fy):
        return (self.x(dx), self.y(fy))


def _limb(draw, p0, p1, w0, w1, fill):
    """A tapered limb from ``p0`` to ``p1`` (widths in pixels)."""
    dx, dy = p1[0] - p0[0], p1[1] - p0[1]
    n = math.hypot(dx, dy) or 1.0
    nx, ny = -dy / n, dx / n
    draw.polygon([(p0[0] + nx * w0 / 2, p0[1] + ny * w0 / 2),
                  (p1[0] + nx * w1 / 2, p1[1] + ny * w1 / 2),
                  (p1[0] - nx * w1 / 2, p1[1] - ny * w1 / 2),
                  (p0[0] - nx * w0 / 2, p0[1] - ny * w0 / 2)], fill=fill)
    for (px, py), w in ((p0, w0), (p1, w1)):
        draw.ellipse([px - w / 2, py - w / 2, px + w / 2, py + w / 2],
                     fill=fill)


def _lerp(p0, p1, t):
    return (p0[0] + (p1[0] - p0[0]) * t, p0[1] + (p1[1] - p0[1]) * t)


def _background(rng, w, h, horizon) -> Image.Image:
    """Plain / gradient / street / blocks background at canvas size."""
    kind = rng.choice(['plain', 'gradient', 'street', 'blocks'],
                      p=[0.2, 0.2, 0.35, 0.25])
    sat = rng.random() < 0.1
    c0 = np.array(_muted_color(rng, sat), np.float32)
    c1 = np.array(_muted_color(rng), np.float32)
    yy = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    if kind == 'gradient':
        img = c0 * (1 - yy) + c1 * yy + np.zeros((1, w, 1), np.float32)
    else:
        img = np.broadcast_to(c0, (h, w, 3)).astype(np.float32)
    if kind == 'street':
        ground = np.array(_muted_color(rng), np.float32) * 0.6 + 60
        img = img.copy()
        img[int(horizon):] = ground
        step = int(rng.integers(10, 24))
        img[:int(horizon):step] *= 0.82  # brick / panel lines
    pil = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    if kind == 'blocks':
        d = ImageDraw.Draw(pil)
        for _ in range(int(rng.integers(2, 6))):
            x0, y0 = rng.uniform(-0.2, 1.0) * w, rng.uniform(-0.2, 0.9) * h
            bw, bh = rng.uniform(0.2, 0.7) * w, rng.uniform(0.1, 0.5) * h
            d.rectangle([x0, y0, x0 + bw, y0 + bh], fill=_muted_color(rng))
        pil = pil.filter(ImageFilter.BoxBlur(2))
    # Low-frequency texture.
    amp = rng.uniform(6, 22)
    small = rng.normal(0, amp, (int(rng.integers(3, 9)),
                                int(rng.integers(2, 6)), 3)).astype(np.float32)
    tex = np.asarray(Image.fromarray(small[..., 0]).resize(
        (w, h), Image.BILINEAR))[..., None]
    arr = np.asarray(pil, np.float32) + tex
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def _draw_head(draw, fig, pal, ident, view):
    hx, hw = fig.cx, fig.head_w * fig.h
    y0, y1 = fig.y(0.0), fig.y(HEAD)
    hy = (y0 + y1) / 2
    long_hair = ident['hair_length'] == 'long'
    hair = pal.hair
    # neck
    draw.rectangle([hx - hw * 0.45, y1 - 2, hx + hw * 0.45, fig.y(SHOULDER)],
                   fill=pal.skin)
    f = fig.facing
    if long_hair and view != 'back':
        # hair falling behind the head / shoulders
        back = hx - f * hw * 0.6
        draw.polygon([(back - hw * 1.15, hy), (back + hw * 1.15, hy),
                      (back + hw * 1.05, fig.y(0.29)),
                      (back - hw * 1.05, fig.y(0.29))], fill=_shade(hair, .9))
    draw.ellipse([hx - hw, y0, hx + hw, y1], fill=pal.skin)
    if view == 'back':
        draw.ellipse([hx - hw * 1.06, y0 - 1, hx + hw * 1.06, y1 + 1],
                     fill=hair)
        if long_hair:
            draw.polygon([(hx - hw * 1.08, hy), (hx + hw * 1.08, hy),
                          (hx + hw * 1.0, fig.y(0.30)),
                          (hx - hw * 1.0, fig.y(0.30))], fill=hair)
    elif view == 'front':
        draw.chord([hx - hw * 1.06, y0 - 1, hx + hw * 1.06,
                    y0 + (y1 - y0) * 0.75], 180, 360, fill=hair)
        draw.rectangle([hx - hw * 1.05, hy - (y1 - y0) * 0.2,
                        hx - hw * 0.8, hy + (y1 - y0) * 0.05], fill=hair)
        draw.rectangle([hx + hw * 0.8, hy - (y1 - y0) * 0.2,
                        hx + hw * 1.05, hy + (y1 - y0) * 0.05], fill=hair)
        if long_hair:
            for s in (-1, 1):
                draw.polygon([(hx + s * hw * 0.75, hy - (y1 - y0) * 0.2),
                              (hx + s * hw * 1.1, hy - (y1 - y0) * 0.2),
                              (hx + s * hw * 1.25, fig.y(0.25)),
                              (hx + s * hw * 0.8, fig.y(0.25))], fill=hair)
        ey = hy + (y1 - y0) * 0.05
        for s in (-1, 1):
            ex = hx + s * hw * 0.38
            draw.ellipse([ex - 1.2, ey - 1.2, ex + 1.2, ey + 1.2],
                         fill=(30, 25, 25))
    else:  # side: hair on top and at the back of the head
        start = 90 if f > 0 else -90  # the half of the head behind the face
        draw.pieslice([hx - hw * 1.06, y0 - 1, hx + hw * 1.06, y1 + 1],
                      start, start + 180, fill=hair)
        draw.chord([hx - hw * 1.06, y0 - 1, hx + hw * 1.06,
                    y0 + (y1 - y0) * 0.7], 180, 360, fill=hair)
        ex, ey = hx + f * hw * 0.55, hy + (y1 - y0) * 0.05
        draw.ellipse([ex - 1.1, ey - 1.1, ex + 1.1, ey + 1.1],
                     fill=(30, 25, 25))
        if long_hair:
            bx = hx - f * hw * 0.6
            draw.polygon([(bx - hw * 0.5, hy), (bx + hw * 0.5, hy),
                          (bx + hw * 0.45, fig.y(0.30)),
                          (bx - hw * 0.55, fig.y(0.30))], fill=hair)
    if ident['hat'] != 'none':
        _draw_hat(draw, fig, pal, ident, view)


def _draw_hat(draw, fig, pal, ident, view):
    hx, hw = fig.cx, fig.head_w * fig.h
    y0, y1 = fig.y(0.0), fig.y(HEAD)
    hh = y1 - y0
    brim_y = y0 + hh * 0.3
    dark = _shade(pal.hat, 0.7)
    # crown: the upper half of an ellipse rising above the head
    draw.chord([hx - hw * 1.15, y0 - hh * 0.32, hx + hw * 1.15,
                brim_y + hh * 0.38], 180, 360, fill=pal.hat)
    if ident['hat'] == 'hat':  # brim all around
        draw.ellipse([hx - hw * 1.85, brim_y - hh * 0.07, hx + hw * 1.85,
                      brim_y + hh * 0.09], fill=dark)
    elif view in ('front', 'back'):
        draw.rectangle([hx - hw * 1.1, brim_y - hh * 0.03, hx + hw * 1.1,
                        brim_y + hh * 0.07], fill=dark)
    else:  # cap brim pointing forward
        f = fig.facing
        draw.polygon([(hx, brim_y - hh * 0.04), (hx + f * hw * 1.9, brim_y),
                      (hx + f * hw * 1.9, brim_y + hh * 0.07),
                      (hx, brim_y + hh * 0.08)], fill=dark)


def _draw_legs(draw, fig, pal, ident, pose):
    """Legs (skin or trousers) and shoes; returns the feet points."""
    lower, kind = pal.lower, ident['lower_kind']
    legw = fig.leg * fig.h
    feet = []
    order = (-1, 1)
    for s in order:
        if fig.facing == 0:
            hip = fig.pt(s * fig.hip * 0.5, CROTCH - 0.02)
            foot = fig.pt(s * (fig.hip * 0.45 + pose['stance']), ANKLE)
        else:
            a = s * pose['swing']
            hip = fig.pt(0, CROTCH - 0.02)
            length = (fig.y(ANKLE) - fig.y(CROTCH - 0.02))
            foot = (hip[0] + math.sin(a) * length,
                    hip[1] + math.cos(a) * length)
        knee = _lerp(hip, foot, (KNEE - CROTCH) / (ANKLE - CROTCH))
        feet.append(foot)
        skin_leg = kind != 'trousers'
        col = pal.skin if skin_leg else lower
        if fig.facing != 0 and s == -1:
            col = _shade(col, 0.85)  # far leg
        _limb(draw, hip, knee, legw, legw * 0.8, col)
        _limb(draw, knee, foot, legw * 0.8, legw * 0.62, col)
        if kind == 'shorts':
            hem = _lerp(hip, foot, (SHORTS_HEM - CROTCH + 0.02) /
                        (ANKLE - CROTCH + 0.02))
            _limb(draw, hip, hem, legw * 1.2, legw * 1.12,
                  lower if fig.facing == 0 or s == 1 else _shade(lower, .85))
        # shoe
        sw, sh = legw * 0.75, fig.h * 0.035
        fx, fy = foot
        if fig.facing == 0:
            draw.ellipse([fx - sw, fy - sh * 0.4, fx + sw, fy + sh * 1.1],
                         fill=pal.shoes)
        else:
            f = fig.facing
            draw.ellipse([fx - sw * 0.6 + f * sw * 0.5, fy - sh * 0.4,
                          fx + sw * 0.6 + f * sw * 1.1, fy + sh * 1.0],
                         fill=pal.shoes)
    return feet


def _draw_lower(draw, fig, pal, ident):
    kind = ident['lower_kind']
    lw = fig.hip * 1.02
    top = WAIST + 0.035
    if kind == 'trousers':
        draw.polygon([fig.pt(-fig.waist, top), fig.pt(fig.waist, top),
                      fig.pt(lw, CROTCH + 0.02), fig.pt(-lw, CROTCH + 0.02)],
                     fill=pal.lower)
    elif kind == 'shorts':  # the legs of the shorts follow the legs
        d = lw if fig.facing == 0 else lw * 0.8
        draw.polygon([fig.pt(-fig.waist, top), fig.pt(fig.waist, top),
                      fig.pt(d, CROTCH + 0.02), fig.pt(-d, CROTCH + 0.02)],
                     fill=pal.lower)
    else:  # skirt or the skirt part of a dress
        hem = SKIRT_HEMS[ident['lower_length']]
        flare = 0.06 if hem < 0.7 else 0.085
        d = fig.hip if fig.facing == 0 else fig.hip * 0.8
        top = WAIST if kind == 'dress' else top
        draw.polygon([fig.pt(-fig.waist, top), fig.pt(fig.waist, top),
                      fig.pt(d + flare, hem), fig.pt(-d - flare, hem)],
                     fill=pal.lower)


def _draw_torso(draw, fig, pal, ident, view):
    kind = ident['upper_kind']
    hem = WAIST + 0.07 if ident['lower_kind'] == 'dress' else HEMS[kind]
    sh = fig.shoulder if fig.facing == 0 else fig.shoulder * 0.72
    wa = fig.waist if fig.facing == 0 else fig.waist * 0.8
    hm = max(fig.hip, fig.waist) * (0.95 if fig.facing == 0 else 0.8)
    if kind == 'coat':
        hm += 0.02
    pts = [fig.pt(-sh * 0.55, SHOULDER - 0.008),
           fig.pt(sh * 0.55, SHOULDER - 0.008),
           fig.pt(sh, SHOULDER + 0.02), fig.pt(sh * 0.95, CHEST),
           fig.pt(wa, WAIST), fig.pt(hm, hem), fig.pt(-hm, hem),
           fig.pt(-wa, WAIST), fig.pt(-sh * 0.95, CHEST),
           fig.pt(-sh, SHOULDER + 0.02)]
    draw.polygon(pts, fill=pal.upper)
    dark = _shade(pal.upper, 0.6)
    if view == 'front':
        # neckline
        nw = fig.head_w * 0.5
        draw.polygon([fig.pt(-nw, SHOULDER - 0.01),
                      fig.pt(nw, SHOULDER - 0.01),
                      fig.pt(0, SHOULDER + 0.03)], fill=pal.skin)
        if kind in ('jacket', 'coat'):
            draw.line([fig.pt(0, SHOULDER + 0.02), fig.pt(0, hem)],
                      fill=dark, width=max(1, int(fig.h * 0.008)))
            for s in (-1, 1):  # collar
                draw.polygon([fig.pt(s * nw, SHOULDER - 0.01),
                              fig.pt(s * nw * 2.6, SHOULDER),
                              fig.pt(s * nw * 0.4, SHOULDER + 0.05)],
                             fill=dark)
    if ident['lower_kind'] == 'dress':
        draw.line([fig.pt(-wa, WAIST + 0.01), fig.pt(wa, WAIST + 0.01)],
                  fill=dark, width=max(1, int(fig.h * 0.006)))


def _draw_arm(draw, fig, pal, ident, side, swing, far=False):
    """One arm; ``side`` is -1/+1 in front/back views, ``swing`` the
    angle in side views."""
    sleeve_short = ident['sleeve'] == 'short'
    aw = fig.arm * fig.h
    if fig.facing == 0:
        sh = fig.pt(side * (fig.shoulder - 0.02), SHOULDER + 0.025)
        hand = fig.pt(side * (fig.shoulder + 0.03 + swing), WRIST)
    else:
        sh = fig.pt(0, SHOULDER + 0.025)
        length = fig.y(WRIST) - fig.y(SHOULDER + 0.025)
        hand = (sh[0] + math.sin(swing) * length,
                sh[1] + math.cos(swing) * length)
    elbow = _lerp(sh, hand, 0.45)
    up = pal.upper if not far else _shade(pal.upper, 0.85)
    skin = pal.skin if not far else _shade(pal.skin, 0.85)
    if sleeve_short:
        cuff = _lerp(sh, hand, 0.3)
        _limb(draw, cuff, hand, aw * 0.78, aw * 0.7, skin)
        _limb(draw, sh, cuff, aw * 1.1, aw * 1.05, up)
    else:
        _limb(draw, sh, elbow, aw * 1.05, aw * 0.9, up)
        _limb(draw, elbow, hand, aw * 0.9, aw * 0.8, up)
    r = aw * 0.48
    draw.ellipse([hand[0] - r, hand[1] - r * 0.6, hand[0] + r,
                  hand[1] + r * 1.4], fill=skin)
    return hand


def _bag_box(draw, box, color, outline_w):
    draw.rounded_rectangle(box, radius=outline_w * 1.5, fill=color,
                           outline=_shade(color, 0.55), width=outline_w)


def _draw_bag_front(draw, fig, pal, ident, view, hands):
    """Bags drawn in front of the body; returns the bag's bounding box
    (canvas pixels) or None."""
    bag = ident['bag']
    ow = max(1, int(fig.h * 0.008))
    if bag == 'backpack':
        if view == 'front':
            for s in (-1, 1):
                draw.line([fig.pt(s * fig.shoulder * 0.55, SHOULDER),
                           fig.pt(s * fig.shoulder * 0.68, CHEST + 0.12)],
                          fill=pal.bag, width=max(2, int(fig.h * 0.05)))
            return None  # straps only: not hidden by a side occluder
        if view == 'back':
            w = fig.shoulder * 0.8
            box = [fig.x(-w), fig.y(SHOULDER + 0.02), fig.x(w),
                   fig.y(WAIST + 0.02)]
            _bag_box(draw, box, pal.bag, ow)
            draw.rectangle([fig.x(-w * 0.6), fig.y(WAIST - 0.1),
                            fig.x(w * 0.6), fig.y(WAIST - 0.02)],
                           fill=_shade(pal.bag, 0.8))
            return box
        # side view: pack behind the back, strap over the shoulder
        f = fig.facing
        back = -f * fig.shoulder * 0.55
        x0, x1 = sorted((fig.x(back), fig.x(back - f * 0.09)))
        box = [x0, fig.y(SHOULDER + 0.015), x1, fig.y(WAIST + 0.01)]
        _bag_box(draw, box, pal.bag, ow)
        draw.line([fig.pt(back * 0.3, SHOULDER + 0.01),
                   fig.pt(back * 0.5, CHEST + 0.1)], fill=pal.bag,
                  width=max(2, int(fig.h * 0.025)))
        return box
    if bag == 'handbag':
        hand = hands[0] if pal.bag_side < 0 or len(hands) == 1 else hands[1]
        w, h = 0.12 * fig.h, 0.10 * fig.h
        box = [hand[0] - w / 2, hand[1] + 0.02 * fig.h, hand[0] + w / 2,
               hand[1] + 0.02 * fig.h + h]
        draw.arc([hand[0] - w * 0.3, hand[1] - 0.01 * fig.h,
                  hand[0] + w * 0.3, box[1] + 0.02 * fig.h], 180, 360,
                 fill=_shade(pal.bag, 0.6), width=ow)
        _bag_box(draw, box, pal.bag, ow)
        return box
    if bag == 'shoulder bag':
        side = pal.bag_side if view != 'back' else -pal.bag_side
        if fig.facing != 0:
            side = fig.facing * 0.2
        bx = side * (fig.hip + 0.035)
        w, h = 0.135 * fig.h, 0.105 * fig.h
        box = [fig.x(bx) - w / 2, fig.y(HIP - 0.03), fig.x(bx) + w / 2,
               fig.y(HIP - 0.03) + h]
        if fig.facing == 0:
            draw.line([fig.pt(-side / abs(side) * fig.shoulder * 0.6,
                              SHOULDER), (fig.x(bx), box[1])],
                      fill=_shade(pal.bag, 0.75),
                      width=max(2, int(fig.h * 0.024)))
        else:
            draw.line([fig.pt(0, SHOULDER), (fig.x(bx), box[1])],
                      fill=_shade(pal.bag, 0.75),
                      width=max(2, int(fig.h * 0.024)))
        _bag_box(draw, box, pal.bag, ow)
        return box
    return None


def _occlude(draw, rng, fig, w, h):
    """Draw an occluder; returns ``(kind, box)``."""
    col = _muted_color(rng)
    if rng.random() < 0.5:  # something low in front: car, bench, fence
        top = fig.y(rng.uniform(0.68, 0.96))
        x0 = rng.uniform(-0.3, 0.1) * w
        x1 = rng.uniform(0.9, 1.3) * w
        box = [x0, top, x1, h + 2]
        draw.rectangle(box, fill=col)
        for y in np.arange(top + 4, h, rng.uniform(5, 12)):
            draw.line([(x0, y), (x1, y)], fill=_shade(col, 0.8), width=1)
        return 'bottom', box
    # a pole or sign at one side of the figure
    side = -1 if rng.random() < 0.5 else 1
    bw = rng.uniform(0.12, 0.26) * w
    xc = fig.cx + side * rng.uniform(0.08, 0.2) * fig.h
    box = [xc - bw / 2, -2, xc + bw / 2, h + 2]
    draw.rectangle(box, fill=col)
    return 'side', box


def _overlap(a, b) -> float:
    """Share of box ``a`` covered by box ``b``."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    area = max(1e-6, (a[2] - a[0]) * (a[3] - a[1]))
    return ix * iy / area


def sample_view(rng: np.random.Generator, index: int,
                occlusion_prob: float = 0.25) -> Dict:
    """Per-view parameters; view 0 is always a clean front view."""
    view = 'front' if index == 0 else str(rng.choice(
        VIEWS, p=[0.3, 0.3, 0.2, 0.2]))
    return dict(
        view=view,
        scale=rng.uniform(0.80, 0.95),
        child_scale=rng.uniform(0.7, 0.8),
        feet=rng.uniform(0.925, 0.985),
        shift=rng.uniform(-0.12, 0.12),
        swing=rng.uniform(0.15, 0.42),
        arm_swing=rng.uniform(0.0, 0.04),
        occlude=index > 0 and rng.random() < occlusion_prob,
        brightness=rng.uniform(0.72, 1.18),
        cast=1 + rng.uniform(-0.07, 0.07, 3),
        ramp=rng.uniform(-0.25, 0.25),
        noise=rng.uniform(1.0, 6.0),
        blur=rng.random() < 0.2,
        bg_seed=int(rng.integers(2**31)),
    )


def render_person(identity: Dict, rng: np.random.Generator,
                  image_size: Tuple[int, int] = (128, 64), index: int = 0,
                  params: Optional[Dict] = None):
    """Render one view of an identity.

    Args:
        identity (dict): factor assignment (see :mod:`.attributes`).
        rng (np.random.Generator): the view's random generator.
        image_size (tuple): ``(height, width)`` of the output.
        index (int): view index (view 0 is a clean front view).
        params (dict, optional): view parameters from :func:`sample_view`
            (drawn from ``rng`` when omitted).

    Returns:
        tuple[PIL.Image.Image, dict]: the RGB image and ``info`` with the
        ``view`` name and ``hidden``, a list of parts an occluder hides
        (``'shoes'``, ``'lower_length'``, ``'bag'``).
    """
    p = params or sample_view(rng, index)
    H, W = image_size
    h, w = H * SUPERSAMPLE, W * SUPERSAMPLE
    pal = _Palette(identity)
    view = p['view']
    facing = {'left': -1, 'right': 1}.get(view, 0)
    height = h * p['scale'] * (p['child_scale'] if identity['age'] == 'child'
                               else 1.0)
    fig = _Figure(identity, height, w * (0.5 + p['shift']), h * p['feet'],
                  facing)
    brng = np.random.default_rng(p['bg_seed'])
    horizon = fig.y(rng.uniform(0.55, 0.85))
    img = _background(brng, w, h, horizon)
    draw = ImageDraw.Draw(img, 'RGBA')
    # ground shadow
    draw.ellipse([fig.x(-0.16), fig.y(SOLE) - fig.h * 0.02, fig.x(0.16),
                  fig.y(SOLE) + fig.h * 0.025], fill=(0, 0, 0, 60))
    pose = dict(stance=pal.stance, swing=p['swing'])
    hands = []
    if view == 'front' and identity['bag'] == 'backpack':
        # the top of the pack shows above the shoulders
        w2 = fig.shoulder * 0.75
        _bag_box(draw, [fig.x(-w2), fig.y(SHOULDER - 0.035), fig.x(w2),
                        fig.y(WAIST)], pal.bag, max(1, int(fig.h * 0.008)))
    if facing == 0:
        _draw_legs(draw, fig, pal, identity, pose)
        _draw_lower(draw, fig, pal, identity)
        _draw_torso(draw, fig, pal, identity, view)
        for s in (-1, 1):
            hands.append(_draw_arm(draw, fig, pal, identity, s,
                                   p['arm_swing'] * (1 if s > 0 else 0.5)))
        _draw_head(draw, fig, pal, identity, view)
    else:
        a = p['swing'] * 1.2
        _draw_arm(draw, fig, pal, identity, 0, -facing * a, far=True)
        _draw_legs(draw, fig, pal, identity, pose)
        _draw_lower(draw, fig, pal, identity)
        _draw_torso(draw, fig, pal, identity, view)
        _draw_head(draw, fig, pal, identity, view)
        hands.append(_draw_arm(draw, fig, pal, identity, 0, facing * a))
    bag_box = _draw_bag_front(draw, fig, pal, identity, view, hands)
    hidden = []
    if p['occlude']:
        kind, box = _occlude(draw, rng, fig, w, h)
        if kind == 'bottom':
            if box[1] < fig.y(SOLE) - fig.h * 0.02:
                hidden.append('shoes')
            if box[1] < fig.y(0.75):
                hidden.append('lower_length')
        if bag_box is not None and _overlap(bag_box, box) > 0.5:
            hidden.append('bag')
    img = img.resize((W, H), Image.BOX)
    img = _photometric(img, p, rng)
    return img, dict(view=view, hidden=hidden)


def _photometric(img: Image.Image, p: Dict, rng) -> Image.Image:
    """Lighting (brightness, colour cast, side light), blur and noise."""
    if p['blur']:
        img = img.filter(ImageFilter.GaussianBlur(0.6))
    arr = np.asarray(img, np.float32)
    H, W = arr.shape[:2]
    ramp = 1 + p['ramp'] * (np.arange(W, dtype=np.float32) / W - 0.5)
    arr = arr * (p['brightness'] * ramp)[None, :, None] * \
        np.asarray(p['cast'], np.float32)[None, None, :]
    arr += rng.normal(0, p['noise'], arr.shape).astype(np.float32)
    return Image.fromarray(np.clip(arr + 0.5, 0, 255).astype(np.uint8))


def render_identity(identity: Dict, seed: Sequence[int], num_views: int,
                    image_size=(128, 64)):
    """Render ``num_views`` views, view ``v`` from RNG ``seed + [v]``."""
    out = []
    for v in range(num_views):
        rng = np.random.default_rng(list(seed) + [v])
        out.append(render_person(identity, rng, image_size, index=v))
    return out
