"""pemove.vm.bytecode: which paths a guest pytest run collects, and the caches it writes."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from pemove.vm import bytecode


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_a.py").write_text("def test_a():\n    assert 1\n")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "mod.py").write_text("X = 1\n")
    return tmp_path


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (["python", "-m", "pytest", "tests", "-v", "-k", "tests"], ["tests"]),
        (
            ["env", "A=1", "python", "-m", "pytest", "tests/test_a.py::test_a"],
            ["tests/test_a.py"],
        ),
        (["/venv/bin/pytest", "-x"], []),
        (["sh", "-c", "true"], None),
        (["python", "-m", "pemove.workload.scenarios", "--out", "tests"], None),
    ],
)
def test_pytest_paths(
    tree: Path, command: list[str], expected: list[str] | None
) -> None:
    assert bytecode.pytest_paths(command, tree) == expected


def test_prime_writes_bytecode_and_pytest_rewrites_despite_dontwritebytecode(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    bytecode.prime([sys.executable, "-m", "pytest", "tests"], tree, tree / "pkg")
    tag = sys.implementation.cache_tag
    assert (tree / "pkg" / "__pycache__" / f"mod.{tag}.pyc").exists()
    rewritten = list(
        (tree / "tests" / "__pycache__").glob(f"test_a.{tag}-pytest-*.pyc")
    )
    assert rewritten, os.listdir(tree / "tests")


def test_prime_without_pytest_compiles_only_the_package(tree: Path) -> None:
    bytecode.prime(["sh", "-c", "true"], tree, tree / "pkg")
    assert (tree / "pkg" / "__pycache__").is_dir()
    assert not (tree / "tests" / "__pycache__").exists()
