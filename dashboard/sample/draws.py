"""Random draws shared by the generators: people's names, phone numbers, roads, counts, weighted picks.

Each takes the caller's ``random.Random``, so a generator's output stays a function of its own seed.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦傅方邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国文红玲云飞鹏辉斌波宇浩凯健俊帆晨欣怡佳雪琳婷海峰亮林东志春立新庆德永利丹萍燕慧颖"
ROADS = (
    "人民路",
    "金城路",
    "市心路",
    "通惠路",
    "育才路",
    "工人路",
    "建设一路",
    "建设二路",
    "萧金路",
    "湘湖路",
    "文化路",
    "山阴路",
    "博学路",
    "风情大道",
    "萧绍路",
    "南秀路",
)


def person_name(rng: random.Random) -> str:
    """A Chinese name: surname and one or two given characters."""
    given = GIVEN[int(rng.random() * len(GIVEN))]
    if rng.random() < 0.7:
        given += GIVEN[int(rng.random() * len(GIVEN))]
    return SURNAMES[int(rng.random() * len(SURNAMES))] + given


def phone_number(rng: random.Random) -> str:
    """An 11-digit mobile number."""
    return f"1{'3578'[int(rng.random() * 4)]}{int(rng.random() * 1e9):09d}"


def poisson(rng: random.Random, lam: float) -> int:
    """A Poisson draw with mean ``lam`` (a normal approximation above 40)."""
    if lam <= 0:
        return 0
    if lam > 40:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def weighted_indexes(rng: random.Random, weights: Sequence[float], k: int) -> list[int]:
    """``k`` indexes drawn with replacement in proportion to ``weights``, sorted."""
    return sorted(rng.choices(range(len(weights)), weights=weights, k=k))
