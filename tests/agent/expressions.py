"""Azure Pipelines expressions: the subset our pipelines use, and nothing else (anything else raises).

Template expressions (``${{ ... }}``) and runtime conditions share one grammar: literals (``'text'``,
numbers, ``true``/``false``), property access (``parameters.x``, ``parameters['x']``, ``variables['A.B']``,
``dependencies.Run.result``), and functions. Semantics follow Microsoft's "Expressions" reference: ``eq`` /
``ne`` / ``in`` / ``notIn`` compare ordinally ignoring case, converting the right operand to the left's type;
``and`` / ``or`` / ``not`` cast to boolean (empty string, 0 and null are false); ``join(sep, array)``.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any


class ExpressionError(ValueError):
    """An expression the local agent does not understand or cannot resolve."""


_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_\-]*)"
    r"|(?P<punct>[()\[\],.]))"
)


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ExpressionError(f"cannot read expression {text!r} at {text[pos:]!r}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def to_bool(value: Any) -> bool:
    """Azure's boolean cast: null, '', 0 and false are false; every other value is true."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    if isinstance(value, str):
        return value != ""
    return True  # arrays and objects


def to_string(value: Any) -> str:
    """Azure's string cast (booleans as True/False, null as '')."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (list, dict)):
        raise ExpressionError(f"cannot use the object {value!r} as a string")
    return str(value)


def _convert_like(left: Any, right: Any) -> Any:
    """Convert ``right`` to ``left``'s type as Azure's comparisons do (failure: not equal)."""
    if isinstance(left, bool):
        if isinstance(right, str):
            low = right.strip().lower()
            if low in ("true", "false"):
                return low == "true"
            raise ExpressionError(f"cannot compare the boolean {left} with {right!r}")
        return to_bool(right)
    if isinstance(left, (int, float)):
        try:
            return float(right)
        except (TypeError, ValueError) as err:
            raise ExpressionError(f"cannot compare the number {left} with {right!r}") from err
    if isinstance(left, str):
        return to_string(right)
    return right


def _equal(left: Any, right: Any) -> bool:
    try:
        right = _convert_like(left, right)
    except ExpressionError:
        return False
    if isinstance(left, str):
        return left.lower() == right.lower()
    if isinstance(left, (int, float)) and not isinstance(left, bool):
        return float(left) == right
    return left == right


def _join(sep: Any, items: Any) -> str:
    if isinstance(items, (list, tuple)):
        return to_string(sep).join(to_string(i) for i in items)
    return to_string(items)


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "eq": lambda a, b: _equal(a, b),
    "ne": lambda a, b: not _equal(a, b),
    "in": lambda a, *rest: any(_equal(a, r) for r in rest),
    "notIn": lambda a, *rest: not any(_equal(a, r) for r in rest),
    "and": lambda *args: all(to_bool(a) for a in args),
    "or": lambda *args: any(to_bool(a) for a in args),
    "not": lambda a: not to_bool(a),
    "join": _join,
}
_ARITY = {"eq": (2, 2), "ne": (2, 2), "in": (2, 99), "notIn": (2, 99), "and": (2, 99), "or": (2, 99),
          "not": (1, 1), "join": (2, 2)}
# status functions of runtime conditions: the caller supplies their values (the job's state so far)
STATUS_FUNCTIONS = ("succeeded", "failed", "succeededOrFailed", "always", "canceled")


class _Parser:
    def __init__(self, text: str, context: Mapping[str, Any], status: Mapping[str, bool] | None) -> None:
        self.text = text
        self.toks = _tokens(text)
        self.pos = 0
        self.context = context
        self.status = status

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.pos] if self.pos < len(self.toks) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if tok is None or (value is not None and tok[1] != value):
            raise ExpressionError(f"{self.text!r}: expected {value or 'more'}, found {tok[1] if tok else 'the end'}")
        self.pos += 1
        return tok

    def parse(self) -> Any:
        value = self.value()
        if self.peek() is not None:
            raise ExpressionError(f"{self.text!r}: unexpected {self.peek()[1]!r}")
        return value

    def value(self) -> Any:
        kind, tok = self.take()
        if kind == "str":
            return tok[1:-1].replace("''", "'")
        if kind == "num":
            return float(tok) if "." in tok else int(tok)
        if kind != "name":
            raise ExpressionError(f"{self.text!r}: unexpected {tok!r}")
        if tok in ("true", "false"):
            return tok == "true"
        if tok == "null":
            return None
        nxt = self.peek()
        if nxt is not None and nxt[1] == "(":
            return self.call(tok)
        if tok not in self.context:
            raise ExpressionError(f"{self.text!r}: {tok!r} is not available here (known: {sorted(self.context)})")
        return self.access(self.context[tok], tok)

    def call(self, name: str) -> Any:
        self.take("(")
        args: list[Any] = []
        if self.peek() and self.peek()[1] != ")":
            args.append(self.value())
            while self.peek() and self.peek()[1] == ",":
                self.take(",")
                args.append(self.value())
        self.take(")")
        if name in STATUS_FUNCTIONS:
            if self.status is None:
                raise ExpressionError(f"{self.text!r}: {name}() is a runtime function, not allowed in ${{{{ }}}}")
            if args:
                raise ExpressionError(f"{self.text!r}: {name}() with arguments is not modelled")
            return self.status[name]
        if name not in _FUNCTIONS:
            raise ExpressionError(f"{self.text!r}: the function {name!r} is not modelled by the local agent")
        low, high = _ARITY[name]
        if not low <= len(args) <= high:
            raise ExpressionError(f"{self.text!r}: {name}() takes {low}..{high} arguments, got {len(args)}")
        return _FUNCTIONS[name](*args)

    def access(self, value: Any, path: str) -> Any:
        while self.peek() and self.peek()[1] in (".", "["):
            if self.take()[1] == ".":
                key = self.take()[1]
            else:
                kind, key = self.take()
                if kind != "str":
                    raise ExpressionError(f"{self.text!r}: index must be a quoted name")
                key = key[1:-1]
                self.take("]")
            path = f"{path}.{key}"
            if not isinstance(value, Mapping):
                raise ExpressionError(f"{self.text!r}: {path} reads a property of a non-object")
            match = [k for k in value if k.lower() == key.lower()]  # property names are case-insensitive
            if not match and path.split(".", 1)[0] == "variables":
                return None  # an undefined variable is null (Azure), e.g. one a step sets only sometimes
            if not match:
                raise ExpressionError(f"{self.text!r}: {path} is not defined")
            value = value[match[0]]
        return value


def evaluate(text: str, context: Mapping[str, Any], status: Mapping[str, bool] | None = None) -> Any:
    """Evaluate one expression (without its ``${{ }}``) in ``context``; ``status`` enables succeeded() etc."""
    return _Parser(text, context, status).parse()


_TEMPLATE = re.compile(r"\$\{\{(.*?)\}\}", re.S)


def substitute(text: str, context: Mapping[str, Any]) -> Any:
    """Expand every ``${{ }}`` in a string; a string that is exactly one expression keeps the value's type."""
    whole = _TEMPLATE.fullmatch(text.strip())
    if whole and text.strip() == text.strip():
        inner = whole.group(1)
        if "${{" not in inner:
            return evaluate(inner, context)
    return _TEMPLATE.sub(lambda m: to_string(evaluate(m.group(1), context)), text)
