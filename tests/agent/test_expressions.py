"""Azure Pipelines expression semantics the local agent relies on (Microsoft's "Expressions" reference)."""
from __future__ import annotations

import pytest

from tests.agent.expressions import ExpressionError, evaluate, substitute

CTX = {"parameters": {"mode": "FullPipeline", "flag": False, "items": ["a", "b"], "n": 4},
       "variables": {"Build.SourceBranch": "refs/heads/main"}}


@pytest.mark.parametrize(("text", "expected"), [
    ("eq(parameters.mode, 'fullpipeline')", True),  # ordinal, ignoring case
    ("ne(parameters.mode, 'ValidationOnly')", True),
    ("in(parameters.mode, 'BronzeOnly', 'FullPipeline')", True),
    ("in(parameters.mode, 'BronzeOnly', 'SilverOnly')", False),
    ("eq(parameters.flag, true)", False),
    ("eq(parameters.flag, 'false')", True),  # the right side converts to the left's type
    ("eq(parameters.n, '4')", True),
    ("and(eq(parameters.n, 4), not(parameters.flag))", True),
    ("or(parameters.flag, eq(variables['Build.SourceBranch'], 'refs/heads/main'))", True),
    ("join(' ', parameters.items)", "a b"),
    ("join(' ', parameters['items'])", "a b"),
])
def test_functions(text: str, expected: object) -> None:
    assert evaluate(text, CTX) == expected


def test_substitution_keeps_the_type_of_a_whole_expression_and_joins_inside_text() -> None:
    assert substitute("${{ parameters.items }}", CTX) == ["a", "b"]
    assert substitute("run ${{ parameters.mode }} on ${{ join(',', parameters.items) }}", CTX) == \
        "run FullPipeline on a,b"


@pytest.mark.parametrize("text", [
    "startsWith(parameters.mode, 'F')",  # a real function, but not modelled: refuse, never guess
    "parameters.missing",
    "eq(parameters.mode)",
    "succeeded()",  # a runtime function in a template expression
    "eq(parameters.mode, 'x'",
])
def test_what_is_not_understood_raises(text: str) -> None:
    with pytest.raises(ExpressionError):
        evaluate(text, CTX)


def test_status_functions_in_conditions() -> None:
    status = {"succeeded": False, "failed": True, "succeededOrFailed": True, "always": True, "canceled": False}
    assert evaluate("or(canceled(), failed())", CTX, status) is True
    assert evaluate("succeeded()", CTX, status) is False


def test_an_undefined_variable_is_null_but_an_undefined_parameter_is_an_error() -> None:
    assert evaluate("ne(variables['skipSubmit'], 'true')", CTX) is True
    with pytest.raises(ExpressionError):
        evaluate("parameters.nope", CTX)
