"""A Python product's code_version and row key: what changes them, what does not."""

import inspect
import io
import sys
import textwrap
import tokenize
import types

import pytest
from platform_core.errors import ProductDeclarationError
from platform_core.products import load_domain_products
from platform_core.products.code_version import code_part, code_version

PRODUCTS = """\
type: platform_core.components.DataProducts
attributes:
  domain: sales
  products:
    - name: orders
      description: One row per order.
      owners: [team:sales]
      visibility: public
      key: [order_id]
      columns:
        - {name: order_id, type: integer}
        - {name: amount, type: decimal}
"""

MODULE = '''
from platform_core.identifiers import qualified

def helper(x):
    return x + 1

def orders(p):
    """Orders."""
    return helper(1)
'''


def implementation(tmp_path, source: str, folder: str, name: str = "mesh_fixture_products"):
    """`orders` from a module written to a file (inspect reads the source, as for products);
    every version under the same module name, as a product's module keeps its name."""
    (tmp_path / folder).mkdir()
    path = tmp_path / folder / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    module = types.ModuleType(name)
    module.__file__ = str(path)
    exec(compile(path.read_text(), str(path), "exec"), module.__dict__)
    import sys

    sys.modules[name] = module
    return module.orders


@pytest.fixture
def declaration(tmp_path):
    path = tmp_path / "defs.yaml"
    path.write_text(PRODUCTS)
    return load_domain_products(path).products[0]


def test_comments_docstrings_and_layout_leave_the_version_alone(tmp_path, declaration):
    before = code_version(declaration, implementation(tmp_path, MODULE, "m1"))
    reformatted = MODULE.replace('"""Orders."""', '"""Orders, documented."""').replace(
        "return helper(1)", "# a comment\n    return helper( 1 )"
    )
    assert code_version(declaration, implementation(tmp_path, reformatted, "m2")) == before


def test_the_function_or_the_code_it_calls_changes_the_code_half(tmp_path, declaration):
    before = code_version(declaration, implementation(tmp_path, MODULE, "m3"))
    own = code_version(
        declaration, implementation(tmp_path, MODULE.replace("helper(1)", "helper(2)"), "m4")
    )
    called = code_version(
        declaration, implementation(tmp_path, MODULE.replace("x + 1", "x + 2"), "m5")
    )
    assert code_part(own) != code_part(before) and code_part(called) != code_part(before)
    assert own.split("-")[0] == before.split("-")[0]  # the declaration half is unchanged


def test_the_declaration_changes_only_the_declaration_half(tmp_path, declaration):
    function = implementation(tmp_path, MODULE, "m6")
    before = code_version(declaration, function)
    after = code_version(declaration.model_copy(update={"tier": 3}), function)
    assert code_part(after) == code_part(before) and after != before
    assert declaration.row_key == ["order_id"]


def test_a_row_key_naming_an_undeclared_column_is_a_clear_error(tmp_path):
    path = tmp_path / "defs.yaml"
    path.write_text(PRODUCTS.replace("key: [order_id]", "key: [order_no]"))
    with pytest.raises(ProductDeclarationError) as error:
        load_domain_products(path)
    message = str(error.value)
    assert str(path) in message and "orders" in message and "order_no" in message


def test_the_version_does_not_depend_on_the_ast_converter(tmp_path, declaration, monkeypatch):
    """CPython 3.11's AST converter shares a recursion counter between threads, and dbt and
    Dagster parse while locations load (CI saw 'AST constructor recursion depth mismatch').
    With the converter failing as it did there, the version is still made, and unchanged."""
    import ast

    source = MODULE.replace("return helper(1)", "return helper(Helper.factor)") + (
        "\n\nclass Helper:\n    factor = 1\n"
    )
    function = implementation(tmp_path, source, "m7")
    expected = code_version(declaration, function)

    def broken(*args, **kwargs):
        raise SystemError("AST constructor recursion depth mismatch (before=309, after=391)")

    monkeypatch.setattr(ast, "parse", broken)
    assert code_version(declaration, function) == expected


def test_a_class_the_product_uses_is_part_of_the_version(tmp_path, declaration):
    with_class = MODULE.replace(
        "def helper(x):\n    return x + 1",
        "class Helper:\n    factor = 1\n\ndef helper(x):\n    return x * Helper.factor",
    )
    before = code_version(declaration, implementation(tmp_path, with_class, "m8"))
    changed = with_class.replace("factor = 1", "factor = 2")
    after = code_version(declaration, implementation(tmp_path, changed, "m9"))
    assert code_part(after) != code_part(before)


TRICKY = '''
import functools

def wrap(f):
    @functools.wraps(f)
    def inner(*args):
        return f(*args)
    return inner

@wrap
def decorated(p):
    """Decorated."""
    sql = """
        select 1
    \t
        from t
    """
    return sql  # trailing comment
    # an indented comment after the body

double = lambda x: x * 2  # noqa: E731

class Shape:
    """A class with methods."""

    sides = 4

    def area(self, n):
        return (
            n
            * self.sides
        )

def orders(p):
    def nested(q):
        return q
    return nested(decorated(p)) + double(1)
'''


def _two_pass_tokens(obj) -> list[tuple[int, str]]:
    """What versioning hashed before it tokenized in one pass: inspect's source of the object,
    dedented, without layout, comments and docstrings (computed here independently)."""
    if isinstance(obj, type):
        lines, _ = inspect.getsourcelines(obj)
        source = "".join(lines)
    else:
        source = inspect.getsource(obj)
    tokens = list(tokenize.generate_tokens(io.StringIO(textwrap.dedent(source)).readline))
    layout = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT}
    kept = []
    for index, token in enumerate(tokens):
        if token.type in layout or token.type == tokenize.ENDMARKER:
            continue
        before = tokens[index - 1].type if index else None
        after = tokens[index + 1].type if index + 1 < len(tokens) else None
        docstring = token.type == tokenize.STRING and before == tokenize.INDENT
        if docstring and after in (tokenize.NEWLINE, tokenize.NL):
            continue
        kept.append((token.type, token.string))
    return kept


def test_one_pass_tokens_are_the_tokens_of_the_dedented_source(tmp_path, monkeypatch):
    """Versions made before the one-pass tokenization stay valid: the same tokens, for
    decorated functions, lambdas, classes, methods and strings with whitespace-only lines."""
    from platform_core.products.code_version import _tokens

    path = tmp_path / "mesh_fixture_tricky.py"
    path.write_text(TRICKY)  # as written: implementation() dedents, emptying the blank line
    fixture = types.ModuleType("mesh_fixture_tricky")
    fixture.__file__ = str(path)
    monkeypatch.setitem(sys.modules, fixture.__name__, fixture)  # inspect finds classes so
    exec(compile(TRICKY, str(path), "exec"), fixture.__dict__)
    module = vars(fixture)
    objects = [
        module["decorated"],  # functools.wraps: the source of `decorated` itself
        module["double"],
        module["Shape"],
        module["Shape"].area,  # indented: tokenized from its dedented source
        module["orders"],
        module["wrap"],
    ]
    for obj in objects:
        assert _tokens(obj) == _two_pass_tokens(obj), obj
    # the whitespace-only line inside the SQL string is emptied, as dedent empties it
    sql = '"""\n        select 1\n\n        from t\n    """'
    assert (tokenize.STRING, sql) in _tokens(module["decorated"])
