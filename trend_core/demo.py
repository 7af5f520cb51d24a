"""Deterministic demo dataset: drawn outfits, Chinese post text and planted style trends.

Eight styles, each with garments, palettes, a pattern, vocabulary and a popularity curve. A post's
date is drawn uniformly over the span, then its style from the curves' normalised shares on that day,
so monthly shares follow the curves. Engagement follows each style's share ~5 weeks *ahead* (it leads).
Images are 256x256 RGB PNGs of a simple figure on a mostly plain / gradient background.
"""
from __future__ import annotations

import hashlib
import io
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from trend_core.store import POST_COLUMNS

SIZE = 256
START = pd.Timestamp("2023-01-01")
N_MONTHS = 20
LEAD_DAYS = 35  # engagement follows the share curve this many days ahead

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class StyleSpec:
    """One planted style: what it looks like, how it is written about, how its share moves."""

    name: str
    english: str
    garments: tuple[str, ...]          # garment kinds drawn (see _draw_outfit)
    palettes: tuple[tuple[RGB, ...], ...]  # colour sets; one picked per post
    pattern: str                       # solid | stripes | floral | plaid | dots | denim | brocade ...
    vocab: tuple[str, ...]             # style words used in title / content
    hashtags: tuple[str, ...]          # style hashtags (without '#')
    curve: str                         # rising | fading | seasonal | flat | burst | rising_late | winter | hump


STYLES: list[StyleSpec] = [
    StyleSpec("碎花连衣裙", "floral dress", ("dress",),
              (((246, 236, 214), (214, 60, 80)), ((248, 214, 222), (200, 40, 90)),
               ((204, 222, 242), (240, 200, 60)), ((250, 249, 242), (150, 80, 190)),
               ((250, 240, 190), (220, 90, 60))),
              "floral",
              ("碎花", "连衣裙", "碎花裙", "法式", "温柔", "仙女", "夏天", "小清新", "度假", "裙子", "甜美",
               "初夏", "海边", "浪漫"),
              ("碎花连衣裙", "法式碎花裙", "夏日穿搭", "温柔风"), "seasonal"),
    StyleSpec("牛仔休闲", "jeans and tee", ("tee", "jeans"),
              (((245, 245, 242), (62, 96, 150)), ((170, 170, 172), (70, 110, 165)),
               ((248, 232, 160), (52, 80, 130)), ((35, 35, 38), (90, 130, 180))),
              "denim",
              ("牛仔裤", "白T", "休闲", "百搭", "简约", "基础款", "舒适", "T恤", "直筒裤", "随性", "慵懒",
               "牛仔", "周末"),
              ("牛仔裤穿搭", "休闲穿搭", "基础款"), "flat"),
    StyleSpec("通勤西装", "blazer and trousers", ("blazer", "trousers"),
              (((28, 28, 32), (28, 28, 32)), ((30, 40, 78), (30, 40, 78)), ((82, 84, 90), (82, 84, 90)),
               ((176, 134, 92), (176, 134, 92)), ((212, 196, 170), (60, 60, 64))),
              "solid",
              ("西装", "通勤", "职场", "干练", "气场", "西装外套", "上班", "利落", "西裤", "知性", "高级感",
               "面试"),
              ("通勤穿搭", "西装外套", "职场穿搭"), "fading"),
    StyleSpec("学院百褶裙", "plaid pleated skirt", ("shirt", "pleated_skirt"),
              (((248, 248, 246), (30, 42, 86), (170, 30, 40)), ((248, 248, 246), (30, 80, 50), (30, 42, 86)),
               ((236, 228, 210), (120, 80, 50), (230, 210, 170)), ((248, 248, 246), (150, 25, 35), (28, 28, 30))),
              "plaid",
              ("学院风", "百褶裙", "格纹", "格子裙", "JK", "减龄", "开学", "青春", "乖巧", "制服", "少女感",
               "针织马甲"),
              ("学院风", "百褶裙", "开学穿搭"), "burst"),
    StyleSpec("街头卫衣", "hoodie and cargo", ("hoodie", "cargo"),
              (((30, 30, 32), (186, 168, 120)), ((150, 150, 154), (36, 36, 38)), ((92, 98, 60), (30, 30, 32)),
               ((232, 110, 40), (60, 62, 52)), ((120, 70, 160), (176, 160, 116))),
              "print",
              ("卫衣", "街头", "工装裤", "oversize", "宽松", "嘻哈", "潮牌", "酷", "帽衫", "美式", "男友风",
               "滑板"),
              ("街头风", "卫衣穿搭", "美式复古"), "rising_late"),
    StyleSpec("新中式旗袍", "new-Chinese qipao", ("qipao",),
              (((176, 24, 36), (226, 186, 90)), ((40, 120, 100), (230, 200, 120)), ((34, 48, 96), (210, 180, 110)),
               ((120, 30, 70), (226, 190, 120)), ((240, 232, 214), (170, 40, 40))),
              "brocade",
              ("新中式", "旗袍", "国风", "盘扣", "改良旗袍", "东方美", "古典", "优雅", "气质", "刺绣", "温婉",
               "马面裙"),
              ("新中式穿搭", "旗袍", "国风"), "rising"),
    StyleSpec("运动风", "tracksuit with stripes", ("track_top", "track_pants"),
              (((24, 24, 28), (250, 250, 250)), ((28, 40, 90), (250, 250, 250)), ((190, 30, 40), (250, 250, 250)),
               ((30, 110, 60), (250, 250, 250))),
              "side_stripes",
              ("运动风", "运动套装", "休闲", "健身", "跑步", "活力", "运动裤", "三道杠", "舒服", "元气",
               "拉链外套"),
              ("运动风穿搭", "运动套装", "健身穿搭"), "winter"),
    StyleSpec("法式条纹", "breton stripes", ("breton", "skirt"),
              (((248, 248, 244), (30, 42, 86), (212, 190, 150)), ((248, 248, 244), (180, 30, 40), (245, 240, 228)),
               ((244, 238, 222), (30, 42, 86), (180, 30, 40)), ((248, 248, 244), (24, 24, 28), (28, 28, 32))),
              "stripes",
              ("法式", "条纹衫", "海魂衫", "慵懒", "浪漫", "针织", "复古", "巴黎", "随性", "文艺", "贝雷帽",
               "chic"),
              ("法式穿搭", "条纹衫", "海魂衫"), "hump"),
]

STYLE_CURVES: dict[str, str] = {s.name: s.curve for s in STYLES}

GENERIC_WORDS = ("穿搭", "今日穿搭", "好看", "显瘦", "百搭", "日常", "氛围感", "小个子", "高级感", "性价比",
                 "上身", "质感", "显高", "搭配", "出门", "约会", "拍照", "ootd", "衣服", "喜欢", "推荐",
                 "购物", "平价", "回购", "同款")
FILLERS = ("姐妹们", "真的太好看了", "谁懂啊", "绝绝子", "冲鸭", "爱了爱了", "码住", "快来抄作业", "狠狠心动",
           "求链接", "被夸了一整天", "今天也是元气满满", "随手拍拍", "哈哈哈")
EMOJI = ("❤️", "✨", "😍", "🌸", "💕", "🔥", "🥰", "👗", "☀️", "🫶", "💯", "🌈")
GENERIC_TAGS = ("每日穿搭", "ootd", "穿搭分享", "小个子穿搭", "我的日常", "今日份穿搭", "显瘦穿搭")

SKIN = ((241, 212, 188), (228, 190, 160), (205, 160, 125), (170, 120, 90))
HAIR = ((24, 20, 20), (50, 34, 26), (90, 60, 40), (30, 28, 34))
BACKGROUNDS = ((240, 238, 232), (226, 228, 230), (236, 226, 210), (214, 226, 236), (222, 234, 222),
               (238, 222, 226), (196, 198, 200), (246, 246, 246), (120, 124, 130), (214, 206, 190))


@dataclass
class DemoData:
    """posts: canonical frame; images: image_hash -> PNG bytes; curves: month x style planted share."""

    posts: pd.DataFrame
    images: dict[str, bytes]
    curves: pd.DataFrame
    engagement_curves: pd.DataFrame = field(default_factory=pd.DataFrame)


# -- planted curves ------------------------------------------------------------------------------
def _logistic(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def curve_weight(kind: str, day: np.ndarray) -> np.ndarray:
    """Unnormalised popularity of a curve kind at day offsets from START (may lie outside the span)."""
    day = np.asarray(day, dtype=float)
    m = day / 30.44                                     # months since START
    moy = ((START.dayofyear - 1 + day) % 365.25) / 30.44  # month of year, 0 = 1 Jan
    if kind == "rising":
        return 0.25 + 2.4 * _logistic((m - 10.5) / 1.6)
    if kind == "fading":
        return 0.2 + 1.7 * (1 - _logistic((m - 8.0) / 2.0))
    if kind == "seasonal":   # summer peak (mid July)
        return 0.3 + 1.6 * np.maximum(0.0, np.cos(2 * np.pi * (moy - 6.5) / 12)) ** 2
    if kind == "winter":     # winter peak (mid January)
        return 0.3 + 1.3 * np.maximum(0.0, np.cos(2 * np.pi * (moy - 0.5) / 12)) ** 2
    if kind == "flat":
        return np.full_like(m, 1.0)
    if kind == "burst":      # Sep-Oct 2023
        return 0.06 + 2.6 * np.exp(-0.5 * ((m - 9.0) / 0.6) ** 2)
    if kind == "rising_late":
        return 0.3 + 1.9 * _logistic((m - 15.5) / 0.9)
    if kind == "hump":       # rises then falls, peak around June 2023
        return 0.25 + 1.6 * np.exp(-0.5 * ((m - 5.5) / 2.0) ** 2)
    raise ValueError(f"unknown curve kind {kind!r}")


def daily_shares(days: np.ndarray) -> np.ndarray:
    """(len(days), n_styles) normalised planted shares."""
    w = np.stack([curve_weight(s.curve, days) for s in STYLES], axis=1)
    return w / w.sum(axis=1, keepdims=True)


def _span_days() -> int:
    return int((START + pd.DateOffset(months=N_MONTHS) - START).days)


def planted_curves() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Monthly mean planted share and engagement multiplier (month start x style)."""
    days = np.arange(_span_days())
    dates = START + pd.to_timedelta(days, unit="D")
    month = dates.to_period("M").to_timestamp()
    shares = pd.DataFrame(daily_shares(days), columns=[s.name for s in STYLES])
    lead = pd.DataFrame(_engagement_multiplier(days), columns=[s.name for s in STYLES])
    share_m = shares.groupby(month).mean()
    lead_m = lead.groupby(month).mean()
    share_m.index.name = lead_m.index.name = "month"
    share_m.columns.name = lead_m.columns.name = "style"
    return share_m, lead_m


def _engagement_multiplier(days: np.ndarray) -> np.ndarray:
    """Per day and style: the share LEAD_DAYS ahead relative to the style's mean share, ** 0.9."""
    ahead = daily_shares(np.asarray(days, dtype=float) + LEAD_DAYS)
    mean = daily_shares(np.arange(_span_days())).mean(axis=0)
    return (ahead / mean) ** 0.9


# -- text ----------------------------------------------------------------------------------------
def _pick(rng: np.random.Generator, seq: tuple[str, ...] | list[str], k: int = 1) -> list[str]:
    idx = rng.choice(len(seq), size=min(k, len(seq)), replace=False)
    return [seq[i] for i in idx]


def _post_text(rng: np.random.Generator, style: StyleSpec) -> tuple[str, str, str]:
    """(title, content, tags) for one post: style words + ~25 % generic words + fillers + emoji."""
    roll = rng.random()
    if roll < 0.05:
        return "", "", ""
    if roll < 0.08:
        return "", "".join(_pick(rng, EMOJI, int(rng.integers(1, 4)))), ""
    words = _pick(rng, style.vocab, int(rng.integers(3, 6)))
    words += _pick(rng, GENERIC_WORDS, int(rng.integers(1, 3)))
    if rng.random() < 0.12:  # off-style word
        other = STYLES[int(rng.integers(len(STYLES)))]
        words += _pick(rng, other.vocab, 1)
    order = rng.permutation(len(words))
    words = [words[i] for i in order]
    title = "".join(words[:2])
    if rng.random() < 0.5:
        title += "｜" + _pick(rng, FILLERS)[0]
    if rng.random() < 0.4:
        title += _pick(rng, EMOJI)[0]
    parts: list[str] = []
    for w in words[2:] + words[:1]:
        parts.append(w)
        if rng.random() < 0.3:
            parts.append(_pick(rng, FILLERS)[0])
    seps = ("，", " ", "！", "～", "。")
    content = "".join(p + seps[int(rng.integers(len(seps)))] for p in parts).rstrip("，～ ")
    if rng.random() < 0.5:
        content += "".join(_pick(rng, EMOJI, int(rng.integers(1, 3))))
    if rng.random() < 0.2:
        content += f" #{_pick(rng, style.hashtags)[0]}[话题]#"
    tags = _pick(rng, style.hashtags, int(rng.integers(1, 3))) + _pick(rng, GENERIC_TAGS, int(rng.integers(0, 3)))
    return title, content, " ".join("#" + t for t in tags)


# -- drawing -------------------------------------------------------------------------------------
def _clip(c: Any) -> RGB:
    return tuple(int(min(255, max(0, round(v)))) for v in c)  # type: ignore[return-value]


def _shade(c: RGB, f: float) -> RGB:
    return _clip(np.asarray(c, dtype=float) * f)


def _texture(rng: np.random.Generator, pattern: str, base: RGB, accent: RGB, unit: float,
             extra: RGB | None = None) -> Image.Image:
    """A full-canvas texture image for a garment."""
    if pattern == "solid":
        return Image.new("RGB", (SIZE, SIZE), base)
    if pattern == "floral":
        return _floral(rng, base, accent, unit)
    yy = np.arange(SIZE, dtype=np.float32)[:, None]
    xx = np.arange(SIZE, dtype=np.float32)[None, :]
    arr = np.empty((SIZE, SIZE, 3), dtype=np.uint8)
    arr[:] = base
    phase = float(rng.uniform(0, 100))
    if pattern == "stripes":
        period = max(6.0, unit * 0.05)
        arr[np.broadcast_to(((yy + phase) // (period / 2)) % 2 == 1, (SIZE, SIZE))] = accent
    elif pattern == "plaid":
        period = max(10.0, unit * 0.09)
        band_v = ((xx + phase) % period) < period * 0.3
        band_h = ((yy + phase) % period) < period * 0.3
        arr[band_v | band_h] = accent
        arr[band_v & band_h] = _shade(accent, 0.6)
        if extra is not None:
            arr[(((xx + phase) % period) < 1.5) | (((yy + phase) % period) < 1.5)] = extra
    elif pattern == "dots":
        period = max(8.0, unit * 0.06)
        dist = ((xx + phase) % period - period / 2) ** 2 + ((yy + phase) % period - period / 2) ** 2
        arr[dist < (period * 0.22) ** 2] = accent
    elif pattern == "brocade":
        period = max(10.0, unit * 0.08)
        u = np.abs(((xx + yy + phase) % period) - period / 2)
        v = np.abs(((xx - yy + phase) % period) - period / 2)
        arr[(u < 1.0) | (v < 1.0)] = accent
    elif pattern == "denim":
        streak = rng.normal(0, 9, size=SIZE)[None, :, None] * np.asarray([0.5, 0.6, 0.8])
        arr = np.clip(np.asarray(base, dtype=np.float32) + streak, 0, 255).astype(np.uint8)
        arr = np.ascontiguousarray(np.broadcast_to(arr, (SIZE, SIZE, 3)))
    return Image.fromarray(arr, "RGB")


def _floral(rng: np.random.Generator, base: RGB, colour: RGB, unit: float) -> Image.Image:
    """Small five-petal flowers with a leaf, scattered on a tile that repeats over the canvas."""
    r = max(2.0, unit * 0.014)
    step = max(7, int(unit * 0.055))
    side = step * 4
    tile = Image.new("RGB", (side, side), base)
    draw = ImageDraw.Draw(tile)
    leaf = (70, 130, 70)
    for y in range(0, side, step):
        for x in range(0, side, step):
            cx = x + float(rng.uniform(0, step))
            cy = y + float(rng.uniform(0, step))
            for dx in (-side, 0, side):      # wrap around the tile edges so the repeat is seamless
                for dy in (-side, 0, side):
                    fx, fy = cx + dx, cy + dy
                    if -2 * r < fx < side + 2 * r and -2 * r < fy < side + 2 * r:
                        _flower(draw, fx, fy, r, colour, leaf)
    reps = SIZE // side + 2
    big = np.tile(np.asarray(tile), (reps, reps, 1))
    ox, oy = (int(v) for v in rng.integers(0, side, 2))
    return Image.fromarray(np.ascontiguousarray(big[oy:oy + SIZE, ox:ox + SIZE]), "RGB")


def _flower(draw: ImageDraw.ImageDraw, cx: float, cy: float, r: float, colour: RGB, leaf: RGB) -> None:
    draw.ellipse([cx + r * 0.6, cy + r * 0.2, cx + r * 1.9, cy + r * 1.0], fill=leaf)
    for k in range(5):
        a = 2 * math.pi * k / 5
        px, py = cx + r * math.cos(a), cy + r * math.sin(a)
        draw.ellipse([px - r * 0.7, py - r * 0.7, px + r * 0.7, py + r * 0.7], fill=colour)
    draw.ellipse([cx - r * 0.45, cy - r * 0.45, cx + r * 0.45, cy + r * 0.45], fill=(250, 220, 80))


def _background(rng: np.random.Generator) -> Image.Image:
    """Plain or gradient background (drawn small, upscaled), a faint floor band sometimes."""
    c1 = np.asarray(BACKGROUNDS[int(rng.integers(len(BACKGROUNDS)))], dtype=np.float32)
    c2 = np.clip(c1 + rng.normal(0, 14, 3), 0, 255).astype(np.float32)
    kind = rng.random()
    n = 16
    t = np.linspace(0, 1, n, dtype=np.float32)
    if kind < 0.25:
        grad = np.zeros((n, n, 1), dtype=np.float32)
    elif kind < 0.65:
        grad = np.broadcast_to(t[:, None, None], (n, n, 1))
    else:
        grad = ((t[:, None] + t[None, :]) / 2)[:, :, None]
    small = np.clip(c1 * (1 - grad) + c2 * grad + 0.5, 0, 255).astype(np.uint8)
    img = Image.fromarray(small, "RGB").resize((SIZE, SIZE), Image.Resampling.BILINEAR)
    if rng.random() < 0.15:  # floor band
        floor = int(rng.uniform(0.82, 0.92) * SIZE)
        band = img.crop((0, floor, SIZE, SIZE)).point(lambda v: int(v * 0.9))
        img.paste(band, (0, floor))
    return img


@dataclass
class _Figure:
    """Joint positions for one pose (pixels)."""

    cx: float
    top: float
    h: float
    arm_angles: tuple[float, float, float, float]  # left upper, left fore, right upper, right fore (deg)
    leg_angles: tuple[float, float]

    def p(self, xf: float, yf: float) -> tuple[float, float]:
        return self.cx + xf * self.h, self.top + yf * self.h

    def arm(self, side: int) -> list[tuple[float, float]]:
        """Shoulder, elbow, wrist of one arm (side -1 left, +1 right)."""
        up, fore = self.arm_angles[:2] if side < 0 else self.arm_angles[2:]
        s = self.p(side * 0.105, 0.18)
        e = (s[0] + side * 0.17 * self.h * math.sin(math.radians(up)),
             s[1] + 0.17 * self.h * math.cos(math.radians(up)))
        w = (e[0] + side * 0.16 * self.h * math.sin(math.radians(fore)),
             e[1] + 0.16 * self.h * math.cos(math.radians(fore)))
        return [s, e, w]

    def leg(self, side: int) -> list[tuple[float, float]]:
        """Hip, knee, ankle of one leg."""
        a = math.radians(self.leg_angles[0 if side < 0 else 1])
        hip = self.p(side * 0.045, 0.5)
        ln = 0.44 * self.h
        knee = (hip[0] + side * ln / 2 * math.sin(a), hip[1] + ln / 2 * math.cos(a))
        ankle = (hip[0] + side * ln * math.sin(a), hip[1] + ln * math.cos(a))
        return [hip, knee, ankle]


def _random_figure(rng: np.random.Generator) -> _Figure:
    h = float(rng.uniform(0.74, 0.9)) * SIZE
    top = float(rng.uniform(0.02, 0.98 * SIZE - h - 0.02 * SIZE + 1))
    cx = SIZE / 2 + float(rng.uniform(-0.12, 0.12)) * SIZE
    up_l, up_r = (float(v) for v in rng.uniform(6, 32, 2))
    fore_l, fore_r = (float(v) for v in rng.uniform(-5, 30, 2))
    if rng.random() < 0.2:  # hand on hip
        up_l, fore_l = 45.0, -55.0
    if rng.random() < 0.1:  # raised arm
        up_r, fore_r = 130.0, 160.0
    legs = (float(rng.uniform(1, 10)), float(rng.uniform(1, 10)))
    return _Figure(cx, top, h, (up_l, fore_l, up_r, fore_r), legs)


def _paste(canvas: Image.Image, texture: Image.Image, draw_mask) -> None:
    """Fill the shape drawn by draw_mask(ImageDraw) with the texture."""
    mask = Image.new("L", (SIZE, SIZE), 0)
    draw_mask(ImageDraw.Draw(mask))
    canvas.paste(texture, (0, 0), mask)


def _torso(f: _Figure, hem: float, width: float = 1.0, waist: float = 0.07) -> list[tuple[float, float]]:
    w = width
    return [f.p(-0.03, 0.145), f.p(-0.115 * w, 0.17), f.p(-0.09 * w, 0.27), f.p(-waist * w, 0.39),
            f.p(-0.095 * w, hem), f.p(0.095 * w, hem), f.p(waist * w, 0.39), f.p(0.09 * w, 0.27),
            f.p(0.115 * w, 0.17), f.p(0.03, 0.145)]


def _sleeves(d: ImageDraw.ImageDraw, f: _Figure, length: float, width: float) -> None:
    """Sleeves along both arms: length 0..1 of the whole arm (0.45 = short)."""
    for side in (-1, 1):
        s, e, w = f.arm(side)
        if length <= 0.5:
            t = length / 0.5
            end = (s[0] + (e[0] - s[0]) * t, s[1] + (e[1] - s[1]) * t)
            d.line([s, end], fill=255, width=int(width), joint="curve")
        else:
            t = (length - 0.5) / 0.5
            end = (e[0] + (w[0] - e[0]) * t, e[1] + (w[1] - e[1]) * t)
            d.line([s, e, end], fill=255, width=int(width), joint="curve")
        d.ellipse([s[0] - width / 2, s[1] - width / 2, s[0] + width / 2, s[1] + width / 2], fill=255)


def _trouser_legs(d: ImageDraw.ImageDraw, f: _Figure, width: float, length: float = 1.0) -> None:
    d.polygon([f.p(-0.075, 0.38), f.p(0.075, 0.38), f.p(0.1, 0.53), f.p(-0.1, 0.53)], fill=255)
    for side in (-1, 1):
        hip, _, ankle = f.leg(side)
        end = (hip[0] + (ankle[0] - hip[0]) * length, hip[1] + (ankle[1] - hip[1]) * length)
        d.line([hip, end], fill=255, width=int(width * f.h), joint="curve")


def _draw_outfit(rng: np.random.Generator, style: StyleSpec) -> Image.Image:
    """Draw one outfit image of the style (deterministic for the rng state)."""
    canvas = _background(rng)
    d = ImageDraw.Draw(canvas)
    f = _random_figure(rng)
    skin = SKIN[int(rng.integers(len(SKIN)))]
    hair = HAIR[int(rng.integers(len(HAIR)))]
    pal = style.palettes[int(rng.integers(len(style.palettes)))]
    jitter = float(rng.uniform(0.92, 1.08))
    pal = tuple(_shade(c, jitter) for c in pal)
    unit = f.h
    limb = max(3, int(0.045 * f.h))

    # long hair behind, legs, arms (skin)
    if rng.random() < 0.6:
        d.rectangle([*f.p(-0.07, 0.05), *f.p(0.07, 0.22)], fill=hair)
    for side in (-1, 1):
        d.line(f.leg(side), fill=skin, width=int(limb * 1.15), joint="curve")
        d.line(f.arm(side), fill=skin, width=limb, joint="curve")
    shoe = ((20, 20, 20), (245, 245, 245), (110, 70, 40))[int(rng.integers(3))]
    for side in (-1, 1):
        ax, ay = f.leg(side)[2]
        d.ellipse([ax - 0.035 * unit, ay - 0.012 * unit, ax + 0.035 * unit, ay + 0.025 * unit], fill=shoe)

    kinds = style.garments
    if "dress" in kinds:
        tex = _texture(rng, "floral", pal[0], pal[1], unit)
        _paste(canvas, tex, lambda m: (m.polygon(_torso(f, 0.42), fill=255),
                                       m.polygon([f.p(-0.07, 0.39), f.p(0.07, 0.39), f.p(0.2, 0.7),
                                                  f.p(-0.2, 0.7)], fill=255),
                                       _sleeves(m, f, 0.3, limb * 1.5)))
    if "qipao" in kinds:
        tex = _texture(rng, "brocade", pal[0], pal[1], unit)
        _paste(canvas, tex, lambda m: (m.polygon(_torso(f, 0.5, waist=0.062), fill=255),
                                       m.polygon([f.p(-0.095, 0.5), f.p(0.095, 0.5), f.p(0.085, 0.86),
                                                  f.p(-0.085, 0.86)], fill=255),
                                       _sleeves(m, f, 0.22, limb * 1.4)))
        d.rectangle([*f.p(-0.03, 0.13), *f.p(0.03, 0.155)], fill=pal[1])      # mandarin collar
        d.line([f.p(0.0, 0.16), f.p(0.07, 0.24)], fill=pal[1], width=max(1, int(unit * 0.008)))
        d.line([f.p(0.07, 0.62), f.p(0.082, 0.86)], fill=_shade(pal[0], 0.6), width=2)  # slit
    if "jeans" in kinds or "trousers" in kinds or "cargo" in kinds or "track_pants" in kinds:
        base = pal[0] if "track_pants" in kinds else pal[1]
        pattern = "denim" if "jeans" in kinds else "solid"
        width = {"cargo": 0.1, "jeans": 0.075, "trousers": 0.08, "track_pants": 0.078}
        w = next(width[k] for k in kinds if k in width)
        tex = _texture(rng, pattern, base, base, unit)
        _paste(canvas, tex, lambda m: _trouser_legs(m, f, w))
        if "cargo" in kinds:
            for side in (-1, 1):
                _, knee, _ = f.leg(side)
                d.rectangle([knee[0] + side * 0.02 * unit - 0.03 * unit, knee[1] - 0.06 * unit,
                             knee[0] + side * 0.02 * unit + 0.03 * unit, knee[1]], fill=_shade(base, 0.8))
        if "track_pants" in kinds:
            for side in (-1, 1):
                hip, _, ankle = f.leg(side)
                off = side * (w * unit / 2 - 2)
                d.line([(hip[0] + off, hip[1]), (ankle[0] + off, ankle[1])], fill=pal[1], width=max(2, int(unit * 0.012)))
    if "pleated_skirt" in kinds:
        tex = _texture(rng, "plaid", pal[1], pal[2], unit, extra=_shade(pal[2], 1.3))
        _paste(canvas, tex, lambda m: m.polygon([f.p(-0.075, 0.38), f.p(0.075, 0.38), f.p(0.16, 0.62),
                                                 f.p(-0.16, 0.62)], fill=255))
        for k in range(-3, 4):
            d.line([f.p(k * 0.02, 0.40), f.p(k * 0.045, 0.62)], fill=_shade(pal[1], 0.55), width=1)
    if "skirt" in kinds:
        tex = _texture(rng, "solid", pal[2], pal[2], unit)
        _paste(canvas, tex, lambda m: m.polygon([f.p(-0.075, 0.38), f.p(0.075, 0.38), f.p(0.14, 0.7),
                                                 f.p(-0.14, 0.7)], fill=255))
    if "tee" in kinds or "shirt" in kinds or "breton" in kinds:
        pattern = "stripes" if "breton" in kinds else "solid"
        tex = _texture(rng, pattern, pal[0], pal[1], unit)
        sleeve = 0.42 if "tee" in kinds else 0.95
        _paste(canvas, tex, lambda m: (m.polygon(_torso(f, 0.42), fill=255), _sleeves(m, f, sleeve, limb * 1.5)))
        if "shirt" in kinds:
            d.polygon([f.p(-0.04, 0.14), f.p(0.0, 0.19), f.p(0.04, 0.14)], fill=_shade(pal[0], 0.85))
            if rng.random() < 0.5:  # knitted vest over the shirt
                d.polygon([f.p(-0.08, 0.2), f.p(0.0, 0.28), f.p(0.08, 0.2), f.p(0.08, 0.4), f.p(-0.08, 0.4)],
                          fill=pal[1])
    if "blazer" in kinds:
        tex = _texture(rng, "solid", pal[0], pal[0], unit)
        _paste(canvas, tex, lambda m: (m.polygon(_torso(f, 0.5, width=1.08, waist=0.08), fill=255),
                                       _sleeves(m, f, 0.97, limb * 1.6)))
        d.polygon([f.p(-0.035, 0.145), f.p(0.0, 0.3), f.p(0.035, 0.145)], fill=(246, 246, 244))
        lapel = _shade(pal[0], 0.7)
        d.line([f.p(-0.035, 0.145), f.p(-0.06, 0.22), f.p(0.0, 0.3)], fill=lapel, width=2)
        d.line([f.p(0.035, 0.145), f.p(0.06, 0.22), f.p(0.0, 0.3)], fill=lapel, width=2)
        for yb in (0.34, 0.41):
            x, y = f.p(0.0, yb)
            d.ellipse([x - 2, y - 2, x + 2, y + 2], fill=lapel)
    if "hoodie" in kinds:
        base = pal[0]
        hx, hy = f.p(0.0, 0.1)
        d.ellipse([hx - 0.085 * unit, hy - 0.07 * unit, hx + 0.085 * unit, hy + 0.08 * unit], fill=_shade(base, 0.85))
        tex = _texture(rng, "solid", base, base, unit)
        _paste(canvas, tex, lambda m: (m.polygon(_torso(f, 0.47, width=1.22, waist=0.1), fill=255),
                                       _sleeves(m, f, 1.0, limb * 2.1)))
        d.polygon([f.p(-0.06, 0.38), f.p(0.06, 0.38), f.p(0.075, 0.45), f.p(-0.075, 0.45)], fill=_shade(base, 0.8))
        if rng.random() < 0.6:  # chest print
            d.rectangle([*f.p(-0.045, 0.22), *f.p(0.045, 0.29)], fill=(240, 240, 236))
    if "track_top" in kinds:
        base = pal[0]
        tex = _texture(rng, "solid", base, base, unit)
        _paste(canvas, tex, lambda m: (m.polygon(_torso(f, 0.44, width=1.08, waist=0.085), fill=255),
                                       _sleeves(m, f, 1.0, limb * 1.7)))
        stripe_w = max(2, int(unit * 0.01))
        for side in (-1, 1):
            pts = f.arm(side)
            for off in (-limb * 0.35, limb * 0.35):
                d.line([(x + off, y) for x, y in pts], fill=pal[1], width=stripe_w)
        d.line([f.p(0.0, 0.15), f.p(0.0, 0.44)], fill=pal[1], width=2)
        d.rectangle([*f.p(-0.035, 0.135), *f.p(0.035, 0.16)], fill=pal[1])

    # head and hair on top
    hx, hy = f.p(0.0, 0.075)
    r = 0.062 * unit
    d.rectangle([hx - r * 0.35, hy + r * 0.6, hx + r * 0.35, hy + r * 1.4], fill=skin)
    d.ellipse([hx - r, hy - r, hx + r, hy + r * 1.1], fill=skin)
    d.chord([hx - r * 1.05, hy - r * 1.1, hx + r * 1.05, hy + r * 0.9], 180, 360, fill=hair)
    _accessory(rng, d, f, style)
    return _light(rng, canvas)


def _accessory(rng: np.random.Generator, d: ImageDraw.ImageDraw, f: _Figure, style: StyleSpec) -> None:
    """Occasional off-style accessory: a bag, a hat or sunglasses in a random colour."""
    roll = rng.random()
    colour = _clip(rng.uniform(20, 235, 3))
    if roll < 0.07:
        _, _, w = f.arm(1)
        d.rectangle([w[0] - 0.04 * f.h, w[1], w[0] + 0.04 * f.h, w[1] + 0.07 * f.h], fill=colour)
    elif roll < 0.12:
        hx, hy = f.p(0.0, 0.03)
        d.ellipse([hx - 0.1 * f.h, hy - 0.02 * f.h, hx + 0.1 * f.h, hy + 0.025 * f.h], fill=colour)
        d.rectangle([hx - 0.055 * f.h, hy - 0.05 * f.h, hx + 0.055 * f.h, hy], fill=colour)
    elif roll < 0.16:
        x1, y1 = f.p(-0.045, 0.07)
        x2, y2 = f.p(0.045, 0.085)
        d.rectangle([x1, y1, x2, y2], fill=(20, 20, 24))


def _light(rng: np.random.Generator, canvas: Image.Image) -> Image.Image:
    """Brightness jitter and a faint colour cast (a per-channel lookup table)."""
    gain = rng.uniform(0.86, 1.12) * rng.uniform(0.97, 1.03, 3)
    ramp = np.arange(256, dtype=np.float64)
    lut = np.concatenate([np.clip(ramp * g + 0.5, 0, 255) for g in gain]).astype(np.uint8)
    return canvas.point(lut.tolist())


def draw_post_image(seed: int, index: int, style: StyleSpec) -> bytes:
    """PNG bytes of post `index`'s outfit; its own rng stream, so images never shift the text."""
    rng = np.random.default_rng([seed, 7919, index])
    img = _draw_outfit(rng, style)
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


# -- posts ---------------------------------------------------------------------------------------
def _authors(rng: np.random.Generator, n_posts: int) -> tuple[np.ndarray, np.ndarray]:
    """Poster pool: each poster's preferred style and popularity (log multiplier)."""
    n = max(8, n_posts // 6)
    return rng.integers(len(STYLES), size=n), rng.normal(0, 0.5, size=n)


def _sample_posts(rng: np.random.Generator, n_posts: int) -> pd.DataFrame:
    """Dates, styles, authors and engagement (no text, no images)."""
    span = _span_days()
    days = np.sort(rng.integers(0, span, size=n_posts))
    shares = daily_shares(days)
    u = rng.random(n_posts)[:, None]
    style_idx = np.minimum((u > np.cumsum(shares, axis=1)).sum(axis=1), len(STYLES) - 1)
    pref, pop = _authors(rng, n_posts)
    by_style = [np.flatnonzero(pref == k) for k in range(len(STYLES))]
    author = rng.integers(len(pref), size=n_posts)
    loyal = rng.random(n_posts) < 0.6
    for i in np.flatnonzero(loyal):
        pool = by_style[style_idx[i]]
        if len(pool):
            author[i] = pool[int(rng.integers(len(pool)))]
    mult = _engagement_multiplier(days)[np.arange(n_posts), style_idx]
    log_likes = math.log(300) + np.log(mult) + pop[author] + rng.normal(0, 1.0, n_posts)
    likes = np.floor(np.exp(log_likes)).astype(np.int64)
    collects = np.floor(np.exp(log_likes + rng.normal(-1.0, 0.5, n_posts))).astype(np.int64)
    comments = np.floor(np.exp(log_likes + rng.normal(-2.8, 0.6, n_posts))).astype(np.int64)
    return pd.DataFrame({"day": days, "style_idx": style_idx, "author": author,
                         "likes": likes, "collects": collects, "comments": comments})


DEMO_CHUNK = 2_000  # posts drawn and stored together by write_demo (bounded memory at any size)


def _post_row(rng: np.random.Generator, seed: int, i: int, r: Any) -> dict[str, Any]:
    """Post `i` (0-based) without its image; draws its text from the shared sequential rng."""
    style = STYLES[int(r.style_idx)]
    title, content, tags = _post_text(rng, style)
    post_id = f"demo{seed}-{i + 1:05d}"
    return {
        "post_id": post_id, "image_no": 1, "poster_id": f"d{seed}u{int(r.author):04d}", "title": title,
        "content": content, "tags": tags, "post_date": START + pd.Timedelta(days=int(r.day)),
        "likes": int(r.likes), "collects": int(r.collects), "comments": int(r.comments),
        "image_hash": None, "image_source": f"demo/{post_id}.png", "style_label": None,
        "true_style": style.name, "source": f"demo:seed={seed}", "row_number": i + 1,
    }


def _posts_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    posts = pd.DataFrame(rows, columns=POST_COLUMNS)
    posts["post_date"] = pd.to_datetime(posts["post_date"]).astype("datetime64[ns]")
    for col in ("likes", "collects", "comments", "row_number", "image_no"):
        posts[col] = posts[col].astype("int64")
    posts["image_hash"] = posts["image_hash"].astype(object)
    return posts


def iter_demo_posts(n_posts: int, seed: int = 0, chunk_size: int = DEMO_CHUNK) -> Iterator[pd.DataFrame]:
    """The demo's posts (image_hash None) in consecutive chunks of at most chunk_size rows.

    The per-post columns (dates, styles, authors, engagement) for all n_posts are drawn first (a few
    integers per post); the text comes from one sequential rng over the posts in order, so the chunks
    concatenated are the same frame for every chunk_size. Draw a chunk's images with draw_chunk."""
    if n_posts < 1:
        raise ValueError("n_posts must be >= 1")
    if chunk_size < 1:
        raise ValueError("chunk_size must be >= 1")
    rng = np.random.default_rng(seed)
    base = _sample_posts(rng, n_posts)
    for start in range(0, n_posts, chunk_size):
        part = base.iloc[start:start + chunk_size]
        yield _posts_frame([_post_row(rng, seed, start + j, r) for j, r in enumerate(part.itertuples(index=False))])


_STYLE_BY_NAME = {s.name: s for s in STYLES}


def draw_chunk(posts: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, dict[str, bytes]]:
    """Draw the images of a chunk from iter_demo_posts: (the chunk with image_hash set, hash -> PNG).
    Each image has its own rng stream (seed, row_number), so a chunk draws the same images wherever
    it starts."""
    images: dict[str, bytes] = {}
    hashes: list[str] = []
    for row_number, name in zip(posts["row_number"], posts["true_style"]):
        png = draw_post_image(seed, int(row_number) - 1, _STYLE_BY_NAME[name])
        digest = hashlib.sha256(png).hexdigest()
        images[digest] = png
        hashes.append(digest)
    out = posts.copy()
    out["image_hash"] = pd.Series(hashes, index=out.index, dtype=object)
    return out, images


def generate_demo(n_posts: int = 1200, seed: int = 0, draw_images: bool = True) -> DemoData:
    """The demo dataset for a seed (same seed -> same frame and image bytes), all in memory.

    draw_images=False skips drawing (image_hash None) but leaves every other column unchanged.
    For large demos write_demo draws and stores chunk by chunk instead."""
    posts = pd.concat(list(iter_demo_posts(n_posts, seed, chunk_size=n_posts)), ignore_index=True)
    images: dict[str, bytes] = {}
    if draw_images:
        posts, images = draw_chunk(posts, seed)
    curves, engagement = planted_curves()
    return DemoData(posts=posts, images=images, curves=curves, engagement_curves=engagement)


def _merge_summaries(total: dict | None, part: dict) -> dict:
    if total is None:
        return dict(part, reasons=dict(part["reasons"]))
    for key in ("rows_read", "accepted", "rejected", "added", "already_present"):
        total[key] += part[key]
    reasons = dict(total["reasons"])
    for reason, count in part["reasons"].items():
        reasons[reason] = reasons.get(reason, 0) + count
    total["reasons"] = dict(sorted(reasons.items()))
    return total


def _record_import(store, summary: dict) -> None:
    """One imports row for a demo written in several chunks (each chunk's add_frame left its own
    numbers under the same source). Same statement as Store.add_posts' import record."""
    import json

    from trend_core.store import _now

    with store.transaction() as con:
        con.execute("INSERT OR REPLACE INTO imports VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [summary["source"], summary["file"], summary["rows_read"], summary["accepted"],
                     summary["rejected"], summary["added"], json.dumps(summary, ensure_ascii=False), _now()])


def write_demo(store, n_posts: int = 1200, seed: int = 0, chunk_size: int = DEMO_CHUNK,
               progress: Callable[[float, str], None] | None = None) -> dict:
    """Generate the demo and store it through ingest.add_frame, chunk_size posts at a time (drawn,
    normalised and stored before the next chunk is drawn, so memory stays bounded at any size);
    returns the import summary over all chunks. Writing the same demo twice adds nothing, and a
    chunk whose posts are all stored already is not drawn again (an interrupted build resumes)."""
    from trend_core import ingest  # local import: ingest is heavier and imports text

    source = f"demo:seed={seed}"
    total: dict | None = None
    n_chunks = 0
    for posts in iter_demo_posts(n_posts, seed, chunk_size):
        n_chunks += 1
        n = len(posts)
        if len(store.existing_post_ids(posts["post_id"])) == n:  # stored already: nothing to draw
            part = {"file": source, "source": source, "rows_read": n, "accepted": n, "rejected": 0,
                    "added": 0, "already_present": n, "reasons": {}, "warnings": {}}
        else:
            posts, images = draw_chunk(posts, seed)
            part = ingest.add_frame(store, posts, images, source=source)
            del images
        total = _merge_summaries(total, part)
        if progress is not None:
            done = min(n_posts, n_chunks * chunk_size)
            progress(done / n_posts, f"demo: {done:,} of {n_posts:,} posts drawn and stored")
    assert total is not None
    if n_chunks > 1 and (total["added"] > 0 or source not in set(store.load_imports()["source"])):
        _record_import(store, total)
    return total
