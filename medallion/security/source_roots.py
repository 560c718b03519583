"""Confinement of ``source.path``: a pipeline file reads only under the roots its environment allows.

The environment file may list ``sources: {allowed_roots: [...]}`` (local paths, relative to the current
directory, or URIs); without it the landing root is the only root. A source path (after
:meth:`~medallion.config.EnvConfig.resolve_landing`) must be one of the roots or lie under one; ``..``
segments are resolved first, so ``../../etc`` cannot climb out.
"""
from __future__ import annotations

import os
import posixpath

from medallion.config import EnvConfig, PipelineConfig, is_uri
from medallion.errors import ConfigError

__all__ = ["allowed_roots", "check_source_root"]


def _normal(path: str) -> str:
    if is_uri(path):
        scheme, _, rest = path.partition("://")
        authority, _, tail = rest.partition("/")
        return f"{scheme.lower()}://{authority.lower()}{posixpath.normpath('/' + tail).rstrip('/')}"
    return os.path.normpath(os.path.abspath(path))


def allowed_roots(env: EnvConfig) -> list[str]:
    """The roots source paths must lie under (normalised): ``sources.allowed_roots`` or the landing root."""
    roots = env.sources.allowed_roots if env.sources.allowed_roots is not None else [env.landing_root]
    return [_normal(r) for r in roots]


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/" if is_uri(root) else os.sep) + ("/" if is_uri(root) else os.sep))


def check_source_root(env: EnvConfig, pipeline: PipelineConfig, *, file: str) -> None:
    """Refuse a ``source.path`` outside every allowed root.

    Raises:
        ConfigError: naming the file, ``source.path`` and the roots (exit 2, before any JVM).
    """
    path = _normal(env.resolve_landing(pipeline.source.path))
    roots = allowed_roots(env)
    if not any(_under(path, r) for r in roots):
        raise ConfigError(f"{path!r} lies outside the allowed source roots {roots} (env sources.allowed_roots)",
                          file=file, key="source.path")
