"""Build the medallion wheel: the package only, with a console entry point.

Spark and Delta are provided by the cluster (Synapse / Fabric Spark 3.5 runtime), so they sit in the
``spark`` extra instead of ``install_requires``. ``pip install -e ".[dev]"`` gives a local stack.
"""
from __future__ import annotations

import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
# One source of the version: medallion/__init__.py.
VERSION = re.search(r'^__version__ = "([^"]+)"', (HERE / "medallion" / "__init__.py").read_text(encoding="utf-8"), re.M)[1]

_DEV = [
    "openlineage-python>=1.30,<2",
    "jsonschema>=4.18",  # tests validate OpenLineage events against our JSON Schema of the spec
    "rfc3339-validator>=0.1.4",  # jsonschema checks the date-time format only with it installed
    "azure-identity>=1.17",
    "azure-storage-file-datalake>=12.14",
    "requests>=2.31",
    "azure-synapse-spark>=0.7",
    "six>=1.16",  # azure-synapse-spark imports six without declaring it
    "chispa>=0.10",
    "deltalake>=0.22,<2",  # an Arrow-based Delta reader: tests read tables as non-Spark readers do
    "pyarrow>=14",
    "pytest>=8",
    "pytest-timeout>=2.2",
    "pytest-xdist>=3.6",  # the suite runs on a worker per core (pyproject addopts: -n auto --dist loadgroup)
    "filelock>=3.12",  # the run's one wheel and dependency archive, built by one xdist worker (tests/conftest.py)
    "playwright>=1.45",  # drives Debian's chromium for the report's browser test (never downloads a browser)
    "ruff>=0.5",
    "build>=1.0",
    "wheel>=0.40",
    "check-jsonschema>=0.28",
    "tree-sitter>=0.22",
    "tree-sitter-pwsh>=0.22",
]

setup(
    name="medallion",
    version=VERSION,
    description="Bronze / silver / gold lakehouse jobs for Azure Synapse and Fabric Spark, on Delta Lake.",
    long_description=(HERE / "README.md").read_text(encoding="utf-8") if (HERE / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["medallion", "medallion.*"]),
    package_data={
        "medallion": ["py.typed"],
        # the run report's template, stylesheet, script and Apache ECharts (vendored from npm) with its licence
        "medallion.observe.lineage": ["*.json"],  # the custom OpenLineage run facet's JSON Schema
        "medallion.report": ["templates/*.j2", "assets/*.js", "assets/*.css", "assets/ECHARTS-*"],
    },
    include_package_data=False,
    install_requires=[
        "pydantic>=2.5,<3",
        "PyYAML>=6",
        "tenacity>=8.2",
        "Jinja2>=3.1",  # the run report's HTML (autoescaped templates)
    ],
    extras_require={
        "spark": ["pyspark>=3.5.0,<3.6", "delta-spark>=3.2.0,<3.3"],
        "spark4": ["pyspark>=4.1,<4.2", "delta-spark>=4.2.0,<4.3"],  # Fabric runtime 2.0 (Spark 4.1, Delta 4.2)
        "azure": ["azure-identity>=1.17", "azure-storage-file-datalake>=12.14", "requests>=2.31"],
        "lineage": ["openlineage-python>=1.30,<2"],  # OpenLineage events (env file `lineage:`)
        "dev": ["pyspark>=3.5.0,<3.6", "delta-spark>=3.2.0,<3.3", *_DEV],
        # the same test stack on Spark 4.1 + Delta 4.2 (Delta's compatibility table pairs delta-spark 4.2.x
        # with Spark 4.1.x; its Scala 2.13 jars come through Ivy), for a separate virtual environment
        "dev-spark4": ["pyspark>=4.1.1,<4.2", "delta-spark>=4.2.0,<4.3", *_DEV],
    },
    entry_points={"console_scripts": ["medallion=medallion.cli:main"]},
    classifiers=["Programming Language :: Python :: 3.11", "Typing :: Typed"],
)
