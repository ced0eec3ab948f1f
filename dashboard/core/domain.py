"""Codes of the 一张网 domain (units, categories, sources, statuses, actions, departments), in zh and en.

One place for codes and their names: the seed, the import, the metrics and every screen use these.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache

from dashboard.core.settings import DATA_DIR

DISTRICT_CODE = "330109"
DISTRICT_NAME_ZH = "萧山区"
DISTRICT_NAME_EN = "Xiaoshan District"
EASTERN_MANAGER = "大江东产业集聚区"
TZ_NAME = "Asia/Shanghai"
# Town-level cases (a 12345 hotline case that names only its town, no grid, perhaps no village) are
# counted in their town; in a list of a town's villages or a village's grids they make one row of this
# code and label, never ranked among the units (it is not one) and never drawn on a map (no shape).
UNGRIDDED_CODE = ""
UNGRIDDED_ZH = "未落网格"
UNGRIDDED_EN = "Not assigned to a grid"
UTC_OFFSET_HOURS = 8  # Asia/Shanghai has had no DST since 1991: a fixed offset is exact.


@dataclass(frozen=True)
class Label:
    code: str
    zh: str
    en: str


def _labels(rows: list[tuple[str, str, str]]) -> dict[str, Label]:
    return {code: Label(code, zh, en) for code, zh, en in rows}


CATEGORIES = _labels(
    [
        ("WORK_SAFETY", "安全生产隐患", "Work safety"),
        ("FIRE", "消防安全", "Fire safety"),
        ("ILLEGAL_BUILD", "违章搭建", "Illegal construction"),
        ("DISPUTE", "矛盾纠纷", "Disputes"),
        ("CITY_APPEARANCE", "市容市貌", "City appearance"),
        ("SANITATION_ENV", "环境卫生", "Sanitation & environment"),
        ("PUBLIC_ORDER", "治安隐患", "Public order"),
        ("PUBLIC_FACILITY", "公共设施", "Public facilities"),
        ("CONSTRUCTION_MGMT", "施工管理", "Construction management"),
        ("FOOD_DRUG", "食品药品安全", "Food & drug safety"),
        ("MARKET", "市场监管", "Market supervision"),
        ("SPECIAL_POP", "特殊人群", "Special populations"),
        ("EMERGENCY", "突发事件", "Emergencies"),
        ("POPULATION_SERVICE", "人口服务", "Population services"),
        ("PETITION_STABILITY", "信访维稳", "Petitions & stability"),
        ("OTHER", "其他", "Other"),
    ]
)

CATEGORY_L2: dict[str, list[str]] = {
    "DISPUTE": [
        "邻里纠纷",
        "婚姻家庭",
        "劳资纠纷",
        "土地山林",
        "征地拆迁",
        "物业纠纷",
        "医疗纠纷",
        "交通事故纠纷",
        "消费纠纷",
    ],
    "WORK_SAFETY": ["企业安全生产", "危化品", "建筑施工", "特种设备", "燃气", "出租房安全"],
    "FIRE": ["消防通道堵塞", "消防设施缺损", "三合一场所", "群租房", "电动车违规充电", "易燃物堆放"],
    "ILLEGAL_BUILD": ["新增违建", "违法用地", "违规建房", "存量违建"],
    "CITY_APPEARANCE": ["占道经营", "乱堆物堆料", "非法小广告", "乱停车", "暴露垃圾", "无照经营"],
    "SANITATION_ENV": ["道路不洁", "河道污染", "垃圾分类", "露天焚烧", "噪声扰民", "废气扰民"],
    "CONSTRUCTION_MGMT": ["施工扰民", "施工占道", "工地扬尘", "渣土撒漏"],
    "FOOD_DRUG": ["无证小作坊", "过期变质食品", "非法行医", "药品违规"],
    "MARKET": ["无照经营", "假冒伪劣", "价格违法"],
    "PUBLIC_ORDER": ["治安乱点", "可疑人员物品", "黄赌毒线索", "出租房管理"],
    "SPECIAL_POP": ["严重精神障碍患者", "社区矫正对象", "刑满释放人员", "吸毒人员", "重点青少年"],
    "PUBLIC_FACILITY": ["井盖缺失破损", "路灯故障", "道路破损", "积水", "护栏损坏"],
    "EMERGENCY": ["火灾", "交通事故", "管道破裂", "路面塌陷", "道路积水"],
    "POPULATION_SERVICE": ["计生专管", "证照代办", "困难帮扶", "社保咨询"],
    "PETITION_STABILITY": ["群体性苗头", "越级访苗头", "网络舆情"],
    "OTHER": ["其他事项"],
}

# The sub-categories' English names (a sub-category is stored as its Chinese name, category_l2): every
# screen in English names them in English. A name not listed here (an imported source's own) stays as
# written.
CATEGORY_L2_EN: dict[str, str] = {
    "邻里纠纷": "Neighbour dispute",
    "婚姻家庭": "Marriage & family",
    "劳资纠纷": "Wage dispute",
    "土地山林": "Land & forest",
    "征地拆迁": "Land requisition",
    "物业纠纷": "Property management dispute",
    "医疗纠纷": "Medical dispute",
    "交通事故纠纷": "Traffic accident dispute",
    "消费纠纷": "Consumer dispute",
    "企业安全生产": "Workplace safety",
    "危化品": "Hazardous chemicals",
    "建筑施工": "Building site safety",
    "特种设备": "Special equipment",
    "燃气": "Gas",
    "出租房安全": "Rental housing safety",
    "消防通道堵塞": "Blocked fire lane",
    "消防设施缺损": "Damaged fire equipment",
    "三合一场所": "Live-work premises",
    "群租房": "Overcrowded rental",
    "电动车违规充电": "E-bike charging hazard",
    "易燃物堆放": "Flammables stored",
    "新增违建": "New illegal building",
    "违法用地": "Illegal land use",
    "违规建房": "Non-compliant house building",
    "存量违建": "Existing illegal building",
    "占道经营": "Street vending",
    "乱堆物堆料": "Materials dumped",
    "非法小广告": "Illegal flyers",
    "乱停车": "Illegal parking",
    "暴露垃圾": "Exposed rubbish",
    "无照经营": "Unlicensed business",
    "道路不洁": "Dirty road",
    "河道污染": "River pollution",
    "垃圾分类": "Waste sorting",
    "露天焚烧": "Open burning",
    "噪声扰民": "Noise nuisance",
    "废气扰民": "Fumes nuisance",
    "施工扰民": "Construction nuisance",
    "施工占道": "Road taken by works",
    "工地扬尘": "Site dust",
    "渣土撒漏": "Spilled spoil",
    "无证小作坊": "Unlicensed workshop",
    "过期变质食品": "Expired food",
    "非法行医": "Illegal medical practice",
    "药品违规": "Drug violation",
    "假冒伪劣": "Counterfeit goods",
    "价格违法": "Price violation",
    "治安乱点": "Public order hotspot",
    "可疑人员物品": "Suspicious person or item",
    "黄赌毒线索": "Vice lead",
    "出租房管理": "Rental management",
    "严重精神障碍患者": "Severe mental illness",
    "社区矫正对象": "Community corrections",
    "刑满释放人员": "Released prisoner",
    "吸毒人员": "Drug user",
    "重点青少年": "At-risk youth",
    "井盖缺失破损": "Missing or broken manhole cover",
    "路灯故障": "Street light fault",
    "道路破损": "Damaged road",
    "积水": "Standing water",
    "护栏损坏": "Damaged railing",
    "火灾": "Fire",
    "交通事故": "Traffic accident",
    "管道破裂": "Burst pipe",
    "路面塌陷": "Road collapse",
    "道路积水": "Flooded road",
    "计生专管": "Family planning",
    "证照代办": "Licence errand",
    "困难帮扶": "Hardship aid",
    "社保咨询": "Social security enquiry",
    "群体性苗头": "Sign of group incident",
    "越级访苗头": "Sign of petition over levels",
    "网络舆情": "Online opinion",
    "其他事项": "Other matter",
}


def category_l2_label(name: str | None, lang: str) -> str:
    """A sub-category's name in ``lang`` (as stored when no English form is known)."""
    if not name:
        return ""
    return CATEGORY_L2_EN.get(name, name) if lang == "en" else name


SOURCES = _labels(
    [
        ("GRID_APP", "网格员上报", "Grid worker app"),
        ("PATROL", "巡查发现", "Patrol"),
        ("VIDEO", "视频巡查", "Video patrol"),
        ("HOTLINE_12345", "12345热线", "12345 hotline"),
        ("POLICE_110_LINKAGE", "110社会联动", "110 linkage"),
        ("PUBLIC_VISIT", "群众来访", "Walk-in visit"),
        ("PETITION", "信访件", "Petition"),
        ("CITY_MGMT_SUPERVISOR", "城管监督员", "City supervisor"),
        ("DEPT_TRANSFER", "部门交办", "Department transfer"),
        ("PUBLIC_APP", "群众APP", "Public app"),
        ("IOT", "物联感知", "IoT sensors"),
    ]
)

PRIORITIES = _labels([("NORMAL", "一般", "Normal"), ("URGENT", "紧急", "Urgent"), ("MAJOR", "重大", "Major")])

STATUSES = _labels(
    [
        ("REPORTED", "已上报", "Reported"),
        ("ACCEPTED", "已受理", "Accepted"),
        ("REJECTED", "不予受理", "Rejected"),
        ("DISPATCHED", "已派单", "Dispatched"),
        ("IN_PROGRESS", "处置中", "In progress"),
        ("HANDLED", "已处置", "Handled"),
        ("CLOSED", "已办结", "Closed"),
        ("VERIFIED", "已核查", "Verified"),
        ("EVALUATED", "已评价", "Evaluated"),
        ("ARCHIVED", "已归档", "Archived"),
    ]
)
OPEN_STATUSES = ("REPORTED", "ACCEPTED", "DISPATCHED", "IN_PROGRESS", "HANDLED")
CLOSED_STATUSES = ("CLOSED", "VERIFIED", "EVALUATED", "ARCHIVED")

ACTIONS = (
    "REPORT",
    "ACCEPT",
    "REJECT",
    "DISPATCH",
    "SIGN",
    "RETURN",
    "HANDLE",
    "REQUEST_EXTENSION",
    "APPROVE_EXTENSION",
    "SUPERVISE",
    "URGE",
    "CLOSE",
    "VERIFY_PASS",
    "VERIFY_FAIL",
    "EVALUATE",
    "ARCHIVE",
)

# The case state machine (``dashboard/source/README.md`` → "Conventions"): action → allowed
# (from_status, to_status) pairs.
# Flag actions (extension, supervision, urging) leave the status unchanged.
_OPEN_WORK = ("ACCEPTED", "DISPATCHED", "IN_PROGRESS", "HANDLED")
TRANSITIONS: dict[str, set[tuple[str | None, str]]] = {
    "REPORT": {(None, "REPORTED")},
    "ACCEPT": {("REPORTED", "ACCEPTED")},
    "REJECT": {("REPORTED", "REJECTED")},
    "DISPATCH": {("ACCEPTED", "DISPATCHED")},
    "SIGN": {("DISPATCHED", "IN_PROGRESS")},
    "RETURN": {("DISPATCHED", "ACCEPTED"), ("IN_PROGRESS", "ACCEPTED")},
    "HANDLE": {("IN_PROGRESS", "HANDLED"), ("ACCEPTED", "HANDLED")},
    "REQUEST_EXTENSION": {(s, s) for s in _OPEN_WORK},
    "APPROVE_EXTENSION": {(s, s) for s in _OPEN_WORK},
    "SUPERVISE": {(s, s) for s in _OPEN_WORK},
    "URGE": {(s, s) for s in _OPEN_WORK},
    "CLOSE": {("HANDLED", "CLOSED")},
    "VERIFY_PASS": {("CLOSED", "VERIFIED")},
    "VERIFY_FAIL": {("CLOSED", "IN_PROGRESS")},
    "EVALUATE": {("VERIFIED", "EVALUATED")},
    "ARCHIVE": {("VERIFIED", "ARCHIVED"), ("EVALUATED", "ARCHIVED")},
}

SATISFACTION = ("满意", "基本满意", "不满意")
HANDLING_LEVELS = _labels(
    [
        ("GRID", "网格", "Grid"),
        ("VILLAGE", "村社", "Village"),
        ("TOWN", "镇街", "Town"),
        ("DISTRICT", "区级", "District"),
    ]
)

PATROL_FORCES = _labels(
    [
        ("GRID", "网格员巡查", "Grid workers"),
        ("FULL_TIME", "专职巡防", "Full-time patrol"),
        ("PART_TIME", "兼职巡防", "Part-time patrol"),
        ("VOLUNTEER", "红袖章", "Red-armband volunteers"),
    ]
)
# Force strengths from the published account of Xiaoshan's grid system (full- and part-time patrols); it
# does not count the volunteers, so their figure is an assumption.
FORCE_STRENGTH = {"FULL_TIME": 3906, "PART_TIME": 22400, "VOLUNTEER": 9000}
# The staff roles that make up each patrol force: a force's strength in a scope is its active staff there.
FORCE_ROLES = {
    "GRID": ("GRID_LEADER", "GRID_WORKER"),
    "FULL_TIME": ("PATROL_FULL",),
    "PART_TIME": ("PATROL_PART",),
    "VOLUNTEER": ("VOLUNTEER",),
}
VIDEO_POINT_TOTAL = 5037

DEPARTMENTS = _labels(
    [
        ("D01_POLICE", "公安分局", "Public Security Bureau"),
        ("D02_HOUSING", "住建局(城建办)", "Housing & Construction"),
        ("D03_CITYMGMT", "综合行政执法局", "Urban Management"),
        ("D04_MARKET", "市场监管局", "Market Supervision"),
        ("D05_FIRE", "消防大队", "Fire Brigade"),
        ("D06_SAFETY", "安监局", "Work Safety Bureau"),
        ("D07_ENV", "环保局", "Environmental Protection"),
        ("D08_LAND", "国土资源局", "Land Resources"),
        ("D09_WATER", "水利局", "Water Resources"),
        ("D10_TRANSPORT", "交通运输局", "Transport"),
        ("D11_HEALTH", "卫计局", "Health & Family Planning"),
        ("D12_CIVIL", "民政局", "Civil Affairs"),
        ("D13_JUSTICE", "司法局", "Justice"),
        ("D14_HRSS", "人力社保局", "Human Resources & Social Security"),
        ("D15_PETITION", "信访局(综治办)", "Petitions (Comprehensive Governance)"),
    ]
)

# Which department a category is usually dispatched to [A].
CATEGORY_DEPT = {
    "WORK_SAFETY": "D06_SAFETY",
    "FIRE": "D05_FIRE",
    "ILLEGAL_BUILD": "D08_LAND",
    "DISPUTE": "D13_JUSTICE",
    "CITY_APPEARANCE": "D03_CITYMGMT",
    "SANITATION_ENV": "D07_ENV",
    "PUBLIC_ORDER": "D01_POLICE",
    "PUBLIC_FACILITY": "D02_HOUSING",
    "CONSTRUCTION_MGMT": "D02_HOUSING",
    "FOOD_DRUG": "D04_MARKET",
    "MARKET": "D04_MARKET",
    "SPECIAL_POP": "D12_CIVIL",
    "EMERGENCY": "D01_POLICE",
    "POPULATION_SERVICE": "D11_HEALTH",
    "PETITION_STABILITY": "D15_PETITION",
    "OTHER": "D03_CITYMGMT",
}


@dataclass(frozen=True)
class Town:
    seq: int
    code: str
    name_zh: str
    name_en: str
    unit_type: str  # 街道 or 镇
    lng: float
    lat: float
    population_wan: float | None
    villages: int | None
    communities: int | None
    managed_by: str | None


def _float_or_none(text: str) -> float | None:
    head = text.strip().lstrip("~").split(" ")[0]
    try:
        return float(head)
    except ValueError:
        return None


def _int_or_none(text: str) -> int | None:
    return int(text) if text.strip().isdigit() else None


@cache
def towns() -> tuple[Town, ...]:
    """The 26 towns and streets of 2016, from the committed copy of the reference CSV."""
    path = DATA_DIR / "xiaoshan_towns_2016.csv"
    with path.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return tuple(
        Town(
            seq=int(r["seq"]),
            code=r["nbs_code"],
            name_zh=r["name_zh"],
            name_en=r["name_pinyin"],
            unit_type="街道" if r["type"] == "subdistrict" else "镇",
            lng=float(r["lng"]),
            lat=float(r["lat"]),
            population_wan=_float_or_none(r["pop_approx_wan"]),
            villages=_int_or_none(r["villages"]),
            communities=_int_or_none(r["communities"]),
            managed_by=EASTERN_MANAGER if "Dajiangdong" in r["status_after_2016"] else None,
        )
        for r in rows
    )


def town_by_code() -> dict[str, Town]:
    return {t.code: t for t in towns()}


def eastern_town_codes() -> frozenset[str]:
    """The five streets administered by 大江东 in 2016."""
    return frozenset(t.code for t in towns() if t.managed_by)
