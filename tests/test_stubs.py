"""The extension's stub file (``_core.pyi``) says what the extension has: the same
functions, classes and methods both ways, each with the parameter names pybind11
gives it (so a call by keyword that type-checks also runs)."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

from fastmeta import _core

STUB = Path(_core.__file__).with_name("_core.pyi")
if not STUB.is_file():  # an editable or in-tree layout
    STUB = Path(__file__).resolve().parent.parent / "python" / "fastmeta" / "_core.pyi"
# PEP 688's __buffer__ is spelled out for type checkers; Python 3.11 objects lack it.
TYPING_ONLY = {"__buffer__"}


def _split_top_level(params: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for ch in params:
        depth += ch in "([{"
        depth -= ch in ")]}"
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    if current.strip():
        parts.append(current)
    return parts


def _runtime_signatures(obj: Any, name: str) -> list[list[str]]:
    """Parameter names of each signature pybind11 wrote in ``obj``'s docstring."""
    sigs = re.findall(rf"^(?:\d+\. )?{re.escape(name)}\((.*)\) ->", obj.__doc__ or "", re.M)
    return [[p.split(":")[0].split("=")[0].strip() for p in _split_top_level(s)] for s in sigs]


def _stub_functions() -> list[tuple[str, Any, ast.FunctionDef]]:
    found = []

    def walk(body: list[ast.stmt], owner: Any, qual: str) -> None:
        for node in body:
            if isinstance(node, ast.ClassDef):
                walk(node.body, getattr(owner, node.name), f"{qual}{node.name}.")
            elif isinstance(node, ast.FunctionDef):
                found.append((qual + node.name, owner, node))

    walk(ast.parse(STUB.read_text()).body, _core, "")
    return found


def _stub_names() -> set[str]:
    names = set()

    def walk(body: list[ast.stmt], qual: str) -> None:
        for node in body:
            if isinstance(node, ast.ClassDef):
                names.add(qual + node.name)
                walk(node.body, f"{qual}{node.name}.")
            elif isinstance(node, ast.FunctionDef):
                names.add(qual + node.name)
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names.add(qual + node.target.id)
            elif isinstance(node, ast.Assign):
                names.update(qual + t.id for t in node.targets if isinstance(t, ast.Name))

    walk(ast.parse(STUB.read_text()).body, "")
    return names


def test_stub_parameters_are_the_extensions() -> None:
    checked = 0
    for qual, owner, node in _stub_functions():
        if node.name in TYPING_ONLY:
            continue
        assert hasattr(owner, node.name), f"{qual} is in the stub, not in the extension"
        if any(isinstance(d, ast.Name) and d.id == "property" for d in node.decorator_list):
            continue
        args = node.args
        names = [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs]
        runtime = _runtime_signatures(getattr(owner, node.name), node.name)
        assert runtime, f"{qual}: no signature in the extension's docstring"
        assert names in runtime, f"{qual}: stub {names}, extension {runtime}"
        checked += 1
    assert checked > 20


def test_everything_public_in_the_extension_is_in_the_stub() -> None:
    stub = _stub_names()
    missing = []
    for name in dir(_core):
        if name.startswith("_"):
            continue
        if name not in stub:
            missing.append(name)
        obj = getattr(_core, name)
        if isinstance(obj, type):
            missing += [f"{name}.{m}" for m in vars(obj) if not m.startswith("_") and f"{name}.{m}" not in stub]
    assert not missing
