"""The project: every pipeline file of a conf dir as one graph of tables.

A gold ``sql`` may read any silver or gold table of the project (:mod:`medallion.gold.references`). This
module loads the pipeline files that make up the project, checks that every reference names a table
some pipeline writes and that gold tables do not depend on each other in a cycle (both
:class:`~medallion.errors.ConfigError`, exit 2, naming the file and key), and orders the work of
``medallion run --all``: bronze and silver of every dataset, then the gold layers in dependency order.
No JVM is needed for any of it.

Example:
    >>> project = load_project("conf")
    >>> [p.config.dataset for p in project.gold_order()]
    ['orders', 'customers']
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

from medallion.config import PipelineConfig, load_pipeline
from medallion.config.gold import GoldTable
from medallion.errors import ConfigError
from medallion.gold.references import gold_inputs, parse_references

__all__ = ["PipelineFile", "Project", "load_project", "project_of", "gold_in_order"]

_PATTERNS = ("*.yaml", "*.yml")


@dataclass(frozen=True)
class PipelineFile:
    """One pipeline file of the project and its validated config."""

    path: Path
    config: PipelineConfig

    @property
    def dataset(self) -> str:
        return self.config.dataset


@dataclass(frozen=True)
class Project:
    """Every pipeline of a conf dir; tables resolve across them."""

    pipelines: tuple[PipelineFile, ...]

    def _owners(self, layer: str) -> dict[str, PipelineFile]:
        """``table -> pipeline`` for every table of ``layer`` (gold) or every silver table."""
        owners: dict[str, PipelineFile] = {}
        for p in self.pipelines:
            names = [g.table for g in p.config.gold] if layer == "gold" else (
                [p.config.silver.table] if p.config.silver is not None else []
            )
            for name in names:
                if name in owners:
                    raise ConfigError(
                        f"{layer} table {name!r} is also written by {owners[name].path}; table names are "
                        "unique across the project",
                        file=str(p.path), key=layer,
                    )
                owners[name] = p
        return owners

    def owner(self, layer: str, table: str) -> PipelineFile | None:
        """The pipeline that writes ``layer/table``."""
        return self._owners(layer).get(table)

    def find(self, dataset: str) -> PipelineFile:
        return next(p for p in self.pipelines if p.dataset == dataset)

    def validate(self) -> None:
        """Every gold reference names a table of the project; no cycle between gold tables.

        Raises:
            ConfigError: naming the pipeline file and the ``gold.N.sql`` key.
        """
        silver, gold = self._owners("silver"), self._owners("gold")
        datasets = [p.dataset for p in self.pipelines]
        repeated = sorted({d for d in datasets if datasets.count(d) > 1})
        if repeated:
            raise ConfigError(f"datasets {repeated} are declared by more than one pipeline file",
                              file=str(self.pipelines[0].path.parent))
        for p in self.pipelines:
            check_references(p, silver=set(silver), gold=set(gold))
        gold_in_order(self)

    def gold_order(self) -> list[PipelineFile]:
        """Pipelines with gold tables, each after every pipeline whose gold tables it reads."""
        graph: dict[str, set[str]] = {}
        gold = self._owners("gold")
        for p in self.pipelines:
            if not p.config.gold:
                continue
            needs = {gold[name].dataset for g in p.config.gold for layer, name in gold_inputs(p.config, g).values()
                     if layer == "gold" and name in gold}
            graph[p.dataset] = needs - {p.dataset}
        try:
            order = list(TopologicalSorter(graph).static_order())
        except CycleError as err:
            cycle = " -> ".join(err.args[1])
            raise ConfigError(
                f"the gold layers of datasets {cycle} read each other's tables; run --all builds gold one "
                "dataset at a time, so move those gold tables into one pipeline file",
                file=str(self.find(err.args[1][0]).path), key="gold",
            ) from None
        return [self.find(d) for d in order if d in graph]

    def needs(self, pipeline: PipelineFile) -> set[tuple[str, str]]:
        """``(layer, dataset)`` the pipeline's gold layer reads: silver layers and other gold layers."""
        silver, gold = self._owners("silver"), self._owners("gold")
        out: set[tuple[str, str]] = set()
        for g in pipeline.config.gold:
            for layer, name in gold_inputs(pipeline.config, g).values():
                owner = (silver if layer == "silver" else gold).get(name)
                if owner is not None and (layer, owner.dataset) != ("gold", pipeline.dataset):
                    out.add((layer, owner.dataset))
        return out


def check_references(pipeline: PipelineFile, *, silver: set[str], gold: set[str]) -> None:
    """Every ``{silver.NAME}`` / ``{gold.NAME}`` of the pipeline's gold sql names a known table."""
    for i, g in enumerate(pipeline.config.gold):
        if g.sql is None:
            continue
        key = f"gold.{i}.sql ({g.table})"
        try:
            refs = parse_references(g.sql)
        except ValueError as err:
            raise ConfigError(str(err), file=str(pipeline.path), key=key) from None
        for ref in refs:
            if ref.name is None:
                continue
            known = silver if ref.layer == "silver" else gold
            if ref.name not in known:
                listed = ", ".join(sorted(known)) or "none"
                raise ConfigError(
                    f"{{{ref.placeholder}}}: no pipeline of the project writes {ref.layer} table {ref.name!r} "
                    f"({ref.layer} tables: {listed})",
                    file=str(pipeline.path), key=key,
                )


def gold_in_order(project: Project) -> list[tuple[PipelineFile, GoldTable]]:
    """Every gold table of the project, each after the gold tables it reads.

    Raises:
        ConfigError: gold tables read each other in a cycle (naming the file and key of one of them).
    """
    where: dict[str, tuple[PipelineFile, int, GoldTable]] = {}
    for p in project.pipelines:
        for i, g in enumerate(p.config.gold):
            where[g.table] = (p, i, g)
    graph = {
        name: {t for layer, t in gold_inputs(p.config, g).values() if layer == "gold" and t in where}
        for name, (p, _, g) in where.items()
    }
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as err:
        cycle = list(err.args[1])
        p, i, g = where[cycle[0]]
        raise ConfigError(
            "gold tables read each other in a cycle: " + " -> ".join(cycle), file=str(p.path), key=f"gold.{i}.sql ({g.table})"
        ) from None
    return [(where[n][0], where[n][2]) for n in order]


def _pipeline_files(folder: Path) -> list[Path]:
    return sorted({f for pattern in _PATTERNS for f in folder.glob(pattern) if f.is_file()})


def load_project(conf_dir: str | Path) -> Project:
    """Every pipeline file in ``{conf_dir}/pipelines`` (validated; the project's references too).

    Raises:
        ConfigError: no pipeline files, an invalid file, or an invalid reference / cycle.
    """
    folder = Path(conf_dir) / "pipelines"
    files = _pipeline_files(folder)
    if not files:
        raise ConfigError(f"no pipeline files (*.yaml) in {folder}", file=str(folder))
    project = Project(tuple(PipelineFile(f, load_pipeline(f)) for f in files))
    project.validate()
    return project


def project_of(pipeline_file: str | Path, pipeline: PipelineConfig) -> Project:
    """The project one pipeline file belongs to: the pipeline files in its folder.

    Sibling files are loaded only when the pipeline's gold sql reads another table, so a pipeline
    that reads only its own silver does not depend on its neighbours being valid.
    """
    path = Path(pipeline_file)
    me = PipelineFile(path, pipeline)
    reads_others = any(
        ref.name is not None for g in pipeline.gold if g.sql is not None for ref in _safe_refs(g.sql)
    )
    if not reads_others:
        return Project((me,))
    siblings = [f for f in _pipeline_files(path.parent) if f.resolve() != path.resolve()]
    return Project((me, *(PipelineFile(f, load_pipeline(f)) for f in siblings)))


def _safe_refs(sql: str) -> Iterable:  # type: ignore[type-arg]
    try:
        return parse_references(sql)
    except ValueError:
        return []  # reported with its file and key by check_references
