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
_BLANK_LINE = re.compile(r"^[ \t]+$", re.MULTILINE)  # what textwrap.dedent empties


def _lines_from(obj: Any) -> list[str] | None:
    """The lines of obj's file from its first line on: a function's where inspect.getsource
    finds it, a class's at its `class` line (inspect would parse the whole module); None if
    there is no source."""
    try:
        if not isinstance(obj, type):
            lines, start = inspect.findsource(inspect.unwrap(obj))
            return lines[start:]
        lines = linecache.getlines(inspect.getsourcefile(obj) or "")
    except (OSError, TypeError):
        return None
    header = re.compile(rf"^\s*class\s+{re.escape(obj.__name__)}\b")
    start = next((n for n, line in enumerate(lines) if header.match(line)), None)
    return None if start is None else lines[start:]


def _significant(tokens: list[tokenize.TokenInfo]) -> Iterator[tokenize.TokenInfo]:
    """The tokens that make up behaviour: no comments, layout or docstrings."""
    for index, token in enumerate(tokens):
        if token.type in _LAYOUT or token.type == tokenize.ENDMARKER:
            continue
        before = tokens[index - 1].type if index else None
        after = tokens[index + 1].type if index + 1 < len(tokens) else None
        docstring = token.type == tokenize.STRING and before == tokenize.INDENT
        if docstring and after in (tokenize.NEWLINE, tokenize.NL):
            continue
        yield token


def _block_tokens(lines: list[str]) -> list[tokenize.TokenInfo] | None:
    """The tokens of the block at the top of `lines` (the lines inspect.getblock keeps), in
    one tokenization: getblock tokenizes to find where the block ends, and tokenizing the
    block again doubled the cost of versioning at every location load. The same tokens as
    tokenizing the dedented block, or None where the one pass could differ: an indented block
    (dedent rewrites its multi-line strings) or a tokenizer error."""
    if lines[0][:1] in (" ", "\t"):
        return None
    finder, seen = inspect.BlockFinder(), []
    try:
        for token in tokenize.generate_tokens(iter(lines).__next__):
            seen.append(token)
            finder.tokeneater(*token)
    except (inspect.EndOfBlock, IndentationError):
        pass
    except (tokenize.TokenError, SyntaxError):
        return None
    return [
        # dedent empties whitespace-only lines, inside multi-line strings too
        token._replace(string=_BLANK_LINE.sub("", token.string))
        if token.type == tokenize.STRING and "\n" in token.string
        else token
        for token in seen
        if token.start[0] <= finder.last
    ]


def _tokens(obj: Any) -> list[tuple[int, str]] | None:
    lines = _lines_from(obj)
    if not lines:
        return None
    tokens = _block_tokens(lines)
    if tokens is not None:
        return [(t.type, t.string) for t in _significant(tokens)]
    source = "".join(inspect.getblock(lines))
    try:
        readline = io.StringIO(textwrap.dedent(source)).readline
        return [(t.type, t.string) for t in _significant(list(tokenize.generate_tokens(readline)))]
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
