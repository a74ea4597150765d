"""docs/configuration.md is what the settings classes say: every variable, default and meaning."""

import re
from pathlib import Path

from xinfang_common.configdoc import SOURCES, render

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "configuration.md"
SETTINGS_CLASS = re.compile(r"^class (\w+)\((?:\w+\.)?(?:XinfangSettings|BaseSettings)\)", re.M)


def test_configuration_document_is_generated_from_the_settings() -> None:
    """A setting added, removed or changed in the code without `make configdoc` fails here."""
    committed = DOC.read_text(encoding="utf-8")
    assert committed == render(), "docs/configuration.md is stale: run `make configdoc`"


def test_every_settings_class_is_a_source_of_the_document() -> None:
    """A new settings class anywhere in the suite must be listed in configdoc.SOURCES."""
    code = [*ROOT.glob("services/*/src/**/*.py"), *(ROOT / "libs" / "common" / "src").rglob("*.py")]
    declared = {name for path in code for name in SETTINGS_CLASS.findall(path.read_text(encoding="utf-8"))}
    assert declared - {"XinfangSettings"} <= {source.name for source in SOURCES}
