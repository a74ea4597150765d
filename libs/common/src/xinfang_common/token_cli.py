"""``xinfang-token``: issue a bearer token for local use and tests (not an identity provider)."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import timedelta
from pathlib import Path
from typing import get_args

from pydantic import ValidationError

from xinfang_common.auth import Algorithm, AuthSettings, Role, issue_token


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="xinfang-token",
        description="Print a signed JWT for a staff account. The signing key is "
        "XINFANG_AUTH_JWT_KEY (the HMAC secret the services verify with) unless --key-file names a "
        "PEM private key for an asymmetric algorithm.",
    )
    parser.add_argument("--sub", required=True, help="staff account id (not a name), e.g. staff-0427")
    parser.add_argument("--unit", required=True, help="unit code of the account, e.g. 430104-zjj")
    parser.add_argument(
        "--role",
        action="append",
        required=True,
        choices=[role.value for role in Role],
        help="a role; repeat for several",
    )
    parser.add_argument("--hours", type=float, default=8.0, help="lifetime in hours (default 8)")
    parser.add_argument("--key-file", type=Path, help="PEM private key (RS*/ES*/EdDSA)")
    parser.add_argument("--algorithm", choices=get_args(Algorithm), help="default XINFANG_AUTH_JWT_ALGORITHM")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; prints the token on stdout."""
    args = _parser().parse_args(argv)
    try:
        settings = AuthSettings()
    except ValidationError as exc:
        print(f"xinfang-token: bad XINFANG_AUTH_* setting: {exc}", file=sys.stderr)
        return 2
    key = args.key_file.read_text() if args.key_file else settings.jwt_key.get_secret_value()
    if not key:
        print("xinfang-token: set XINFANG_AUTH_JWT_KEY or pass --key-file", file=sys.stderr)
        return 2
    if args.hours <= 0:
        print("xinfang-token: --hours must be positive", file=sys.stderr)
        return 2
    token = issue_token(
        subject=args.sub,
        unit=args.unit,
        roles=args.role,
        key=key,
        algorithm=args.algorithm or settings.jwt_algorithm,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        lifetime=timedelta(hours=args.hours),
    )
    sys.stdout.write(token + os.linesep)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
