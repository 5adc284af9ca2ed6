"""The house rule of the layout: no module uses another module's private names.

What two modules share gets a home of its own (``_checks``, ``_constants``,
``_rows``, ``_matplotlib``); a private submodule of a package is how the
layout splits it, so importing one is allowed, but a private name inside
another module is not.
"""

import ast
import pathlib

import skspecrep

PACKAGE = pathlib.Path(skspecrep.__file__).parent


def _module_name(root: pathlib.Path, path: pathlib.Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _source(importer: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = importer.split(".") if is_package else importer.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _is_module(root: pathlib.Path, dotted: str) -> bool:
    path = root.parent.joinpath(*dotted.split("."))
    return path.is_dir() or path.with_suffix(".py").exists()


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def private_uses(root: pathlib.Path) -> list[tuple[str, str]]:
    """(module, name) for every private name of another module of ``root`` that a module uses."""
    package = root.name
    found = []
    for path in sorted(root.rglob("*.py")):
        importer = _module_name(root, path)
        tree = ast.parse(path.read_text())
        bound = {}  # local name -> the module of the package it stands for
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                source = _source(importer, path.name == "__init__.py", node)
                if source.split(".")[0] != package:
                    continue
                for alias in node.names:
                    dotted = f"{source}.{alias.name}"
                    if _is_module(root, dotted):
                        bound[alias.asname or alias.name] = dotted
                    elif _private(alias.name):
                        found.append((importer, dotted))
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == package and alias.asname:
                        bound[alias.asname] = alias.name
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in bound
                and _private(node.attr)
                and not _is_module(root, f"{bound[node.value.id]}.{node.attr}")
            ):
                found.append((importer, f"{bound[node.value.id]}.{node.attr}"))
    return found


def test_no_module_uses_another_modules_private_names():
    assert private_uses(PACKAGE) == []


def test_the_check_catches_private_imports_and_attributes(tmp_path):
    # The check must be able to fail: modules written like the old report,
    # which called plotting._pyplot(), are caught; private submodules are not.
    root = tmp_path / "pkg"
    (root / "_sub").mkdir(parents=True)
    (root / "__init__.py").write_text("from ._sub import helper\n")
    (root / "_sub" / "__init__.py").write_text("from ._core import helper\n")
    (root / "_sub" / "_core.py").write_text("def helper(): pass\ndef _hidden(): pass\n")
    (root / "plotting.py").write_text("def _pyplot(): pass\n")
    (root / "report.py").write_text(
        "from . import plotting\nfrom ._sub._core import _hidden\nplotting._pyplot()\n"
    )
    assert sorted(private_uses(root)) == [
        ("pkg.report", "pkg._sub._core._hidden"),
        ("pkg.report", "pkg.plotting._pyplot"),
    ]


def _layout_tree() -> str:
    readme = (PACKAGE.parent / "README.md").read_text()
    # docs/layout.rst includes the README's tree between these two markers.
    assert readme.count("## Project layout") == readme.count("Dependencies point one way") == 1
    return readme.split("## Project layout")[1].split("Dependencies point one way")[0]


def test_the_map_names_every_module_and_package():
    tree = _layout_tree()
    entries = {p.name + ("/" if p.is_dir() else "") for p in PACKAGE.iterdir()}
    entries = {e for e in entries if e.endswith((".py", "/")) and e != "__pycache__/"}
    missing = sorted(e for e in entries if e not in tree)
    assert not missing, f"README's Project layout (and docs/layout.rst) misses {missing}"
    docs = (PACKAGE.parent / "docs" / "layout.rst").read_text()
    assert ":start-after: ## Project layout" in docs
    assert ":end-before: Dependencies point one way" in docs
