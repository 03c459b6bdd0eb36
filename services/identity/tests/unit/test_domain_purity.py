"""The domain package stays pure: no drivers, no clock or randomness reads (conventions.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import confide_identity.domain as domain
from confide_identity.reference_data import load_common_passwords

DOMAIN_DIR = Path(domain.__file__).parent
FORBIDDEN_MODULES = {"grpc", "aiokafka", "sqlalchemy", "asyncpg", "random", "secrets", "time", "os", "socket"}
FORBIDDEN_CALLS = {
    "now",
    "utcnow",
    "today",
    "uuid1",
    "uuid4",
    "uuid7",
    "urandom",
    "token_bytes",
    "random_base32",
}


@pytest.mark.parametrize("path", sorted(DOMAIN_DIR.glob("*.py")), ids=lambda path: path.name)
def test_domain_module_is_pure(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            names = {(node.module or "").split(".")[0]}
        else:
            names = set()
        assert not names & FORBIDDEN_MODULES, (path.name, names)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            assert node.func.attr not in FORBIDDEN_CALLS, (path.name, node.func.attr, node.lineno)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in FORBIDDEN_CALLS, (path.name, node.func.id, node.lineno)


def test_bundled_common_password_list() -> None:
    common = load_common_passwords()
    assert len(common) > 200
    assert {"password", "123456", "qwerty", "iloveyou"} <= common
    assert all(entry == entry.casefold() and entry.strip() == entry and entry for entry in common)
    assert not any(entry.startswith("#") for entry in common)
