"""The Open311 services: the seven top-level categories of the demo scheme, one table."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Open311Service:
    """One Open311 service type and the petition category it stands for."""

    code: str
    category: str
    description: str
    keywords: tuple[str, ...]


GROUP = "网上信访"
"""The Open311 ``group`` every service belongs to."""

# Codes are part of the public API: clients store them, so never rename one; add new rows instead.
SERVICES: tuple[Open311Service, ...] = (
    Open311Service(
        "urban-construction",
        "城乡建设",
        "住房与物业、城市规划、市政设施、征地拆迁、城市管理",
        ("住房", "物业", "拆迁", "市政", "规划"),
    ),
    Open311Service(
        "labour-social-security",
        "劳动和社会保障",
        "工资报酬、劳动合同、社会保险、就业与退休待遇",
        ("工资", "社保", "劳动合同", "就业", "退休"),
    ),
    Open311Service(
        "education-culture-sports",
        "教育文体",
        "学校教育、招生入学、教师、文化和体育",
        ("学校", "招生", "教师", "文化", "体育"),
    ),
    Open311Service(
        "commerce-tourism",
        "商贸旅游",
        "市场经营、消费维权、旅游服务",
        ("市场", "消费", "商户", "旅游"),
    ),
    Open311Service(
        "environmental-protection",
        "环境保护",
        "噪声、大气、水和土壤污染，生态保护",
        ("噪声", "污染", "排污", "生态"),
    ),
    Open311Service(
        "health-family-planning",
        "卫生计生",
        "医疗服务、医疗保障、公共卫生、计划生育",
        ("医院", "医疗", "卫生", "计生"),
    ),
    Open311Service(
        "transport",
        "交通运输",
        "道路与公共交通、出租车、交通设施、运输管理",
        ("公交", "道路", "出租车", "交通设施"),
    ),
)

BY_CODE: dict[str, Open311Service] = {s.code: s for s in SERVICES}
BY_CATEGORY: dict[str, Open311Service] = {s.category: s for s in SERVICES}
