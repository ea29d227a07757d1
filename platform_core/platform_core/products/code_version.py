"""A Python product's code version: what must change for its data to change.

The version hashes the product's declaration, the tokens of its implementing function and of
every function or class it reaches in the domain's package or in platform_core (followed
through the names each one uses). Tokens, not text: comments, docstrings, blank lines and
line breaks do not change the version; a changed expression does. Dagster shows it as the
asset's `code_version`, and the preview compares base and head versions per product.

No `ast` on purpose: CPython 3.11 keeps the AST converter's recursion counter per interpreter,
so an `ast.parse` (or `inspect.getsource` of a class, which parses the whole module) fails
with "AST constructor recursion depth mismatch" when another thread parses at the same time,
as dbt and Dagster do while locations load. `tokenize` has no shared state.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import io
import json
import linecache
import re
import textwrap
import tokenize
import types
import weakref
from collections.abc import Callable, Iterator
from typing import Any

from pydantic import BaseModel

# Packages whose code is followed besides the function's own top-level package.
PLATFORM_PACKAGES = ("platform_core",)
_LOADER_FIELDS = {"source_file"}  # where it was read from is not what it is
_LAYOUT = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT}


def _source(obj: Any) -> str | None:
    """The source of a function (inspect finds it by line number) or of a class (by its
    `class` line, as inspect would otherwise parse the whole module); None if there is none."""
    try:
        if not isinstance(obj, type):
            return inspect.getsource(obj)
        lines = linecache.getlines(inspect.getsourcefile(obj) or "")
    except (OSError, TypeError):
        return None
    header = re.compile(rf"^\s*class\s+{re.escape(obj.__name__)}\b")
    start = next((n for n, line in enumerate(lines) if header.match(line)), None)
    return None if start is None else "".join(inspect.getblock(lines[start:]))


def _significant(source: str) -> Iterator[tokenize.TokenInfo]:
    """The tokens that make up behaviour: no comments, layout or docstrings."""
    tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    for index, token in enumerate(tokens):
        if token.type in _LAYOUT or token.type == tokenize.ENDMARKER:
            continue
        before = tokens[index - 1].type if index else None
        after = tokens[index + 1].type if index + 1 < len(tokens) else None
        docstring = token.type == tokenize.STRING and before == tokenize.INDENT
        if docstring and after in (tokenize.NEWLINE, tokenize.NL):
            continue
        yield token


def _tokens(obj: Any) -> list[tuple[int, str]] | None:
    source = _source(obj)
    if source is None:
        return None
    try:
        return [(t.type, t.string) for t in _significant(textwrap.dedent(source))]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return [(tokenize.STRING, source)]  # not tokenizable on its own: the text itself


def _fingerprint(obj: Any, tokens: list[tuple[int, str]] | None) -> str:
    if tokens is not None:
        return json.dumps(tokens)
    # No source (generated code, a builtin): its bytecode, if it has any.
    code = getattr(obj, "__code__", None)
    return "" if code is None else repr((code.co_code, code.co_consts, code.co_names))


def _names(tokens: list[tuple[int, str]]) -> set[str]:
    """Names the tokens use on their own (`helper`, the `np` of `np.mean`; not `mean`)."""
    return {
        string
        for index, (kind, string) in enumerate(tokens)
        if kind == tokenize.NAME and (index == 0 or tokens[index - 1][1] != ".")
    }


def _followed(obj: Any, packages: tuple[str, ...]) -> bool:
    module = getattr(obj, "__module__", None) or ""
    return module.split(".")[0] in packages and isinstance(obj, type | types.FunctionType)


# Per function or class: (fingerprint, names it uses). A location versions every product, and
# shared platform code is reached from each of them; tokenize it once per process.
_ANALYSED: weakref.WeakKeyDictionary[Any, tuple[str, set[str]]] = weakref.WeakKeyDictionary()


def _analysis(obj: Any) -> tuple[str, set[str]]:
    try:
        return _ANALYSED[obj]
    except (KeyError, TypeError):  # TypeError: not weakly referenceable, so not kept
        pass
    tokens = _tokens(obj)  # once: both the fingerprint and the names followed come from it
    result = (_fingerprint(obj, tokens), _names(tokens or []))
    with contextlib.suppress(TypeError):
        _ANALYSED[obj] = result
    return result


def _reached(function: Callable[..., Any]) -> list[tuple[str, str]]:
    """(qualified name, fingerprint) of `function` and the package code it reaches."""
    package = (getattr(function, "__module__", "") or "").split(".")[0]
    packages = (package, *PLATFORM_PACKAGES)
    found: dict[str, str] = {}
    stack: list[Any] = [function]
    while stack:
        obj = stack.pop()
        name = f"{obj.__module__}.{obj.__qualname__}"
        if name in found:
            continue
        found[name], names = _analysis(obj)
        scope = getattr(obj, "__globals__", None) or vars(inspect.getmodule(obj) or types)
        for used in names:
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
