"""FastAPI dependencies as ``Annotated`` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from reporting.config import ReportingSettings
from reporting.readmodel.database import Database


def get_database(request: Request) -> Database:
    """The read model's database."""
    database: Database = request.app.state.database
    return database


def get_settings(request: Request) -> ReportingSettings:
    """The service's settings."""
    settings: ReportingSettings = request.app.state.settings
    return settings


DatabaseDep = Annotated[Database, Depends(get_database)]
SettingsDep = Annotated[ReportingSettings, Depends(get_settings)]
