"""The architecture rules are code: the import contracts in pyproject.toml, and the size and
import-placement rules of docs/architecture.md. Breaking one fails the build."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = ("mediaportal", "accounts", "files", "sharing", "analytics")
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 60


def lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    script = Path(sys.executable).parent / "lint-imports"
    return subprocess.run(
        [str(script), "--no-cache", "--no-logo"], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_the_import_contracts_hold():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def project_copy(tmp_path_factory) -> Path:
    copy = tmp_path_factory.mktemp("project")
    for app in APPS:
        shutil.copytree(ROOT / app, copy / app, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    return copy


def _with_line(path: Path, line: str) -> str:
    original = path.read_text()
    path.write_text(
        original.replace("from __future__ import annotations\n", f"from __future__ import annotations\n{line}\n", 1)
    )
    return original


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        # An upward import between apps.
        ("accounts/selectors.py", "import files.models", "Apps depend one way"),
        # A service importing a task instead of queueing it by name.
        ("files/services/folders.py", "import files.tasks", "Tasks are leaves"),
        # A circle between two modules of one package.
        ("files/names.py", "import files.uploads", "No import cycles"),
        # The processing library reaching for Django.
        ("files/processing/errors.py", "import django.conf", "Processing is a library"),
    ],
)
def test_a_forbidden_import_breaks_a_contract(project_copy, module, line, broken):
    path = project_copy / module
    if module == "files/names.py":
        _with_line(project_copy / "files/uploads.py", "import files.names")
    original = _with_line(path, line)
    try:
        result = lint_imports(project_copy)
    finally:
        path.write_text(original)
        shutil.copy(ROOT / "files/uploads.py", project_copy / "files/uploads.py")
    assert result.returncode != 0
    assert broken in result.stdout and "BROKEN" in result.stdout


def _sources() -> list[Path]:
    paths = [*ROOT.glob("*.py"), *(ROOT / "bench").rglob("*.py"), *(ROOT / "tests").rglob("*.py")]
    for app in APPS:
        paths.extend(ROOT.joinpath(app).rglob("*.py"))
    return sorted(path for path in paths if "migrations" not in path.parts)


def _functions(tree: ast.AST):
    return (node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef))


def test_modules_and_functions_stay_small():
    too_long = []
    for path in _sources():
        text = path.read_text()
        rel = path.relative_to(ROOT)
        if len(text.splitlines()) > MAX_MODULE_LINES:
            too_long.append(f"{rel}: {len(text.splitlines())} lines")
        for function in _functions(ast.parse(text)):
            length = function.end_lineno - function.lineno + 1
            if length > MAX_FUNCTION_LINES:
                too_long.append(f"{rel}:{function.lineno} {function.name}(): {length} lines")
    assert not too_long, "\n".join(too_long)


def test_imports_inside_functions_say_why():
    """An import belongs at the top of its module, except where a comment on it says why not."""
    unexplained = []
    for path in _sources():
        if path.parts[len(ROOT.parts)] not in APPS:
            continue
        lines = path.read_text().splitlines()
        for function in _functions(ast.parse("\n".join(lines))):
            for node in ast.walk(function):
                if isinstance(node, ast.Import | ast.ImportFrom):
                    here, above = lines[node.lineno - 1], lines[node.lineno - 2].strip()
                    if "#" not in here and not above.startswith("#"):
                        unexplained.append(f"{path.relative_to(ROOT)}:{node.lineno} {here.strip()}")
    assert not unexplained, "\n".join(unexplained)


def test_template_comments_fit_on_one_line():
    # Django's {# #} ends at the line's end: a comment spread over lines is shown on the page
    # as text. Longer notes use {% comment %}.
    spread = [
        f"{path.relative_to(ROOT)}:{text[: match.start()].count(chr(10)) + 1}"
        for path in sorted((ROOT / "templates").rglob("*.html"))
        for text in [path.read_text()]
        for match in re.finditer(r"\{#.*?#\}|\{#[^\n]*\n", text)
        if "\n" in match.group(0)
    ]
    assert not spread, f"multi-line {{# #}} comments (use {{% comment %}}): {spread}"
