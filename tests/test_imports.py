"""No module imports another package's private modules or names.

A *package* is a first-level subpackage of ``accumulate`` (``accumulate.io``, ``accumulate.warp``,
...); the modules directly in ``accumulate/`` form the root package. Inside a package anything
goes. Across packages an import may not name a private module (``accumulate.io._atomic``) or a
private name (``_Operand``); what several packages share gets a public home instead
(``accumulate.atomic``, ``accumulate.operands``, ``accumulate.io.uids``). The root's private
modules (``accumulate._arrays``, ``_validate``, ``_kernels``, ``_resources``) are the library's
internals, which every package of it may use; their private names are not.

``python tests/test_imports.py [DIR]`` prints the offending imports of a tree (default: this
checkout's ``accumulate``).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "accumulate"


def _private(part: str) -> bool:
    return part.startswith("_") and not part.startswith("__")


def _module_parts(path: Path, root: Path) -> tuple[list[str], bool]:
    """Dotted parts of ``path``'s module (``["accumulate", "io", "_ct"]``) and whether it is a package's ``__init__``."""
    parts = ["accumulate", *path.relative_to(root).with_suffix("").parts]
    if parts[-1] == "__init__":
        return parts[:-1], True
    return parts, False


def _package(parts: list[str], is_module: bool) -> str:
    """The first-level subpackage a dotted module path belongs to ("" for the root's own modules)."""
    inner = parts[1:]
    if not inner or (len(inner) == 1 and is_module):
        return ""
    return inner[0]


def _imports(tree: ast.AST, here: list[str], is_init: bool):
    """(target module parts, imported name or None) of every import of an ``accumulate`` module in ``tree``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "accumulate":
                    yield alias.name.split("."), None
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here if is_init else here[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = base + (node.module.split(".") if node.module else [])
            elif node.module and node.module.split(".")[0] == "accumulate":
                target = node.module.split(".")
            else:
                continue
            for alias in node.names:
                yield target, alias.name


def cross_package_private_imports(root: Path = PACKAGE) -> list[str]:
    """``"importer -> module:name"`` for every import of another package's private module or name under ``root``."""
    found = []
    for path in sorted(root.rglob("*.py")):
        here, is_init = _module_parts(path, root)
        mine = _package(here, not is_init)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for target, name in _imports(tree, here, is_init):
            # a submodule imported by name (from . import _reference) is a module path, not a name
            sub = target + [name] if name and (root.joinpath(*target[1:], name).is_dir() or
                                              root.joinpath(*target[1:], f"{name}.py").exists()) else None  # fmt: skip
            module = sub or target
            theirs = _package(module, is_module=not root.joinpath(*module[1:]).is_dir())
            if theirs == mine:
                continue
            private_module = any(_private(p) for p in module[1:]) and not (theirs == "" and len(module) == 2)
            private_name = sub is None and name is not None and _private(name)
            if private_module or private_name:
                found.append(f"{'.'.join(here)} -> {'.'.join(target)}" + (f":{name}" if name else ""))
    return found


def test_no_module_imports_another_packages_private_names():
    offending = cross_package_private_imports()
    assert not offending, "imports of another package's private modules or names:\n" + "\n".join(offending)


def test_the_finder_sees_each_kind_of_crossing(tmp_path):
    root = tmp_path / "accumulate"
    for folder in ("io", "warp"):
        (root / folder).mkdir(parents=True)
        (root / folder / "__init__.py").write_text("")
    (root / "__init__.py").write_text("")
    (root / "_arrays.py").write_text("def _hidden(): pass\ndef to_host(): pass\n")
    (root / "io" / "_atomic.py").write_text("def write(): pass\n")
    (root / "io" / "_dicom.py").write_text("from ._atomic import write\nfrom . import _atomic\n")  # same package: fine
    (root / "warp" / "_warp.py").write_text(
        "from ..io._atomic import write\n"  # a private module of io
        "from ..io import _atomic\n"  # the same, imported by name
        "import accumulate.io._dicom\n"  # absolute import of a private module
        "from .._arrays import to_host\n"  # the root's internals: allowed
        "from .._arrays import _hidden\n"  # a private name of the root: not
        "from ..io import write\n"  # public: fine
    )
    (root / "top.py").write_text("from .warp._warp import write\n")
    assert cross_package_private_imports(root) == [
        "accumulate.top -> accumulate.warp._warp:write",
        "accumulate.warp._warp -> accumulate.io._atomic:write",
        "accumulate.warp._warp -> accumulate.io:_atomic",
        "accumulate.warp._warp -> accumulate.io._dicom",
        "accumulate.warp._warp -> accumulate._arrays:_hidden",
    ]


if __name__ == "__main__":
    listed = cross_package_private_imports(Path(sys.argv[1]) if len(sys.argv) > 1 else PACKAGE)
    print("\n".join(listed))
    print(f"{len(listed)} cross-package private imports", file=sys.stderr)
