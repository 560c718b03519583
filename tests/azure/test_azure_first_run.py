"""What a review of a real first run found (issue 23): each promise here failed before its fix."""
from __future__ import annotations

import ast
from pathlib import Path

from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[2]


def _setup_requirements() -> list[Requirement]:
    tree = ast.parse((REPO / "setup.py").read_text(encoding="utf-8"))
    out: list[Requirement] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("azure-identity"):
            out.append(Requirement(node.value))
    return out


def test_azure_identity_floor_has_azure_pipelines_credential() -> None:
    """AzurePipelinesCredential arrived in azure-identity 1.17.0; a lower floor installs without it."""
    requirements = _setup_requirements()
    assert len(requirements) >= 2  # the azure and dev extras
    for requirement in requirements:
        assert not requirement.specifier.contains("1.16.1"), str(requirement)
        assert requirement.specifier.contains("1.17.0"), str(requirement)
