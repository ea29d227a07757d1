"""A Python product's code version: what must change for its data to change.

The version hashes the product's declaration, the syntax tree of its implementing function and
of every function or class it reaches in the domain's package or in platform_core (followed
through the names each one uses). Syntax trees, not text: comments, blank lines and
re-formatting do not change the version; a changed expression does. Dagster shows it as the
asset's `code_version`, and the preview compares base and head versions per product.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import io
import json
import textwrap
import time
import tokenize
import types
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pydantic import BaseModel

# Packages whose code is followed besides the function's own top-level package.
PLATFORM_PACKAGES = ("platform_core",)
_LOADER_FIELDS = {"source_file"}  # where it was read from is not what it is

# CPython 3.11's AST conversion keeps one recursion counter per interpreter: an ast.parse from
# two threads at once, or deep inside Dagster's component loading, can fail with "AST
# constructor recursion depth mismatch". One worker thread parses, serially, at a shallow stack.
_PARSER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="code-version-parser")


def _parse(obj: Any) -> ast.Module:
    source = textwrap.dedent(inspect.getsource(obj))
    for attempt in range(5):
        try:
            return _PARSER.submit(ast.parse, source).result()
        except SystemError:  # the shared counter was moved by a conversion in another thread
            time.sleep(0.05 * (attempt + 1))
    raise _Unparseable(source)


class _Unparseable(Exception):
    """ast.parse kept failing on CPython's shared AST state; `source` is hashed as tokens."""

    def __init__(self, source: str) -> None:
        super().__init__("unparseable")
        self.source = source


def _tokens(source: str) -> str:
    """The source's tokens without comments or layout: what a fallback version is made of."""
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT}
    readline = io.StringIO(source).readline
    return " ".join(t.string for t in tokenize.generate_tokens(readline) if t.type not in skip)


def _tree(obj: Any) -> str | None:
    try:
        tree = _parse(obj)
    except _Unparseable as unparseable:
        return _tokens(unparseable.source)
    except (OSError, TypeError, SyntaxError):
        # No parseable source (a lambda inside an expression, generated code): its bytecode.
        code = getattr(obj, "__code__", None)
        return None if code is None else repr((code.co_code, code.co_consts, code.co_names))
    for node in ast.walk(tree):  # docstrings are documentation, not behaviour
        body = getattr(node, "body", None)
        if (
            isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            body[0] = ast.Pass()
    return ast.dump(tree, include_attributes=False)


def _followed(obj: Any, packages: tuple[str, ...]) -> bool:
    module = getattr(obj, "__module__", None) or ""
    return module.split(".")[0] in packages and isinstance(obj, type | types.FunctionType)


def _names(tree_source: Any) -> set[str]:
    try:
        tree = _parse(tree_source)
    except _Unparseable as unparseable:
        return {
            t.string
            for t in tokenize.generate_tokens(io.StringIO(unparseable.source).readline)
            if t.type == tokenize.NAME
        }
    except (OSError, TypeError, SyntaxError):
        return set()
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)} | {
        node.value.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
    }


def _reached(function: Callable[..., Any]) -> list[tuple[str, str]]:
    """(qualified name, syntax tree) of `function` and the package code it reaches."""
    package = (getattr(function, "__module__", "") or "").split(".")[0]
    packages = (package, *PLATFORM_PACKAGES)
    found: dict[str, str] = {}
    stack: list[Any] = [function]
    while stack:
        obj = stack.pop()
        name = f"{obj.__module__}.{obj.__qualname__}"
        if name in found:
            continue
        found[name] = _tree(obj) or ""
        scope = getattr(obj, "__globals__", None) or vars(inspect.getmodule(obj) or types)
        for used in _names(obj):
            target = scope.get(used)
            if isinstance(target, types.ModuleType):
                continue  # module attributes (np.mean) are library code, versioned by the lock
            if target is not None and _followed(target, packages):
                stack.append(target)
    return sorted(found.items())


def code_version(declaration: BaseModel, function: Callable[..., Any] | None) -> str:
    """`<declaration hash>-<code hash>`: the halves tell a reviewer which of the two changed."""
    declared = declaration.model_dump(mode="json", exclude=_LOADER_FIELDS)
    code = _reached(inspect.unwrap(function)) if function is not None else []
    return f"{_digest(declared)}-{_digest(code)}"


def code_part(version: str | None) -> str:
    """The implementation half of a `code_version` ('' for versions not made here)."""
    return version.split("-", 1)[1] if version and "-" in version else (version or "")


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:10]
