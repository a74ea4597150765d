"""FastAPI dependencies as ``Annotated`` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from reporting.access import REPORT_ROLES
from reporting.config import ReportingSettings
from reporting.readmodel.database import Database
from xinfang_common.auth import Principal, PrincipalDep, require_roles


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


def report_reader(principal: PrincipalDep) -> Principal:
    """The caller, if it holds a role that reads reports (403 otherwise)."""
    return require_roles(*REPORT_ROLES)(principal)


ReaderDep = Annotated[Principal, Depends(report_reader)]
