"""The category scheme petitions are filed under (分类): top-level names, or full paths.

By default the seven top-level categories of the national scheme are known. An organisation
that uses the full three-level scheme (or its own) names a CSV file with columns
``level1,level2,level3`` in INTAKE_CATEGORY_SCHEME_PATH; a category is then any level of it,
written as its path joined by "/" (城乡建设, 城乡建设/安全生产, 城乡建设/安全生产/事故处理).
"""

from __future__ import annotations

import csv
from pathlib import Path

TOP_LEVEL = ("城乡建设", "劳动和社会保障", "教育文体", "商贸旅游", "环境保护", "卫生计生", "交通运输")


class CategorySchemeError(ValueError):
    """The scheme file is missing or malformed; the service must not start with it."""


class CategoryScheme:
    """The set of category paths a petition may name."""

    def __init__(self, paths: set[str]) -> None:
        self.paths = frozenset(paths)

    @classmethod
    def default(cls) -> CategoryScheme:
        """The seven top-level categories."""
        return cls(set(TOP_LEVEL))

    @classmethod
    def from_csv(cls, path: Path) -> CategoryScheme:
        """Every level of every row of a ``level1,level2,level3`` file, as "/"-joined paths."""
        try:
            with path.open(encoding="utf-8-sig", newline="") as handle:
                rows = list(csv.reader(handle))
        except OSError as exc:
            raise CategorySchemeError(f"cannot read the category scheme {path}: {exc}") from exc
        if not rows or [cell.strip() for cell in rows[0]][:1] != ["level1"]:
            raise CategorySchemeError(f"{path}: the first line must be the header level1,level2,...")
        paths: set[str] = set()
        for number, row in enumerate(rows[1:], start=2):
            levels = [cell.strip() for cell in row if cell.strip()]
            if not levels:
                continue
            if any("/" in level for level in levels):
                raise CategorySchemeError(f"{path}:{number}: a category name may not contain '/'")
            paths.update("/".join(levels[: depth + 1]) for depth in range(len(levels)))
        if not paths:
            raise CategorySchemeError(f"{path}: no categories")
        return cls(paths)

    def check(self, category: str) -> str:
        """The category, normalised; ValueError naming the nearest known level when unknown."""
        normalised = "/".join(part.strip() for part in category.split("/"))
        if normalised in self.paths:
            return normalised
        top = normalised.split("/", 1)[0]
        if top not in self.paths:
            known = "、".join(sorted(p for p in self.paths if "/" not in p))
            raise ValueError(f"not a category of the scheme; top-level categories are {known}")
        raise ValueError(f"not a category of the scheme under {top}")


_active = CategoryScheme.default()


def configure(path: Path | None) -> CategoryScheme:
    """Make the scheme at ``path`` (None: the default) the one request bodies are checked against.

    Request models are validated without access to the app, so the scheme is process-wide: one
    intake process serves one organisation.
    """
    global _active
    _active = CategoryScheme.from_csv(path) if path else CategoryScheme.default()
    return _active


def active() -> CategoryScheme:
    """The scheme in force."""
    return _active
