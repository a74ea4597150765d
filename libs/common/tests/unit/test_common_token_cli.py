"""`xinfang-token` issues tokens the services accept, and says what is wrong otherwise."""

import pytest

from xinfang_common.auth import AuthSettings, Role, TokenVerifier
from xinfang_common.token_cli import main

KEY = "local-token-secret-0123456789abcdefghij"


def test_the_printed_token_verifies_with_the_same_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XINFANG_AUTH_JWT_KEY", KEY)
    assert (
        main(["--sub", "staff-0427", "--unit", "430104-zjj", "--role", "handler", "--role", "supervisor"])
        == 0
    )
    token = capsys.readouterr().out.strip()
    principal = TokenVerifier(AuthSettings(jwt_key=KEY)).verify(token)
    assert principal.subject == "staff-0427"
    assert principal.unit == "430104-zjj"
    assert principal.roles == {Role.HANDLER, Role.SUPERVISOR}


def test_without_a_key_it_refuses(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XINFANG_AUTH_JWT_KEY", "")
    assert main(["--sub", "s", "--unit", "u", "--role", "admin"]) == 2
    assert "XINFANG_AUTH_JWT_KEY" in capsys.readouterr().err


def test_an_unknown_role_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XINFANG_AUTH_JWT_KEY", KEY)
    with pytest.raises(SystemExit):
        main(["--sub", "s", "--unit", "u", "--role", "superuser"])


def test_a_negative_lifetime_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XINFANG_AUTH_JWT_KEY", KEY)
    assert main(["--sub", "s", "--unit", "u", "--role", "admin", "--hours", "-1"]) == 2
    assert "--hours" in capsys.readouterr().err
