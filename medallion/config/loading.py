"""Loading the configuration files: safe YAML, ``${VAR}`` expansion, validation against the models.

YAML is read by a SafeLoader that rejects duplicate keys, complex keys, anchors/aliases and deep nesting;
``${VAR}`` (``${VAR:-default}``) is expanded from the process environment; the result is validated by the
models of :mod:`medallion.config.model`. Every problem is a :class:`~medallion.errors.ConfigError` naming
the file and the key; a substituted value is never echoed in a validation error.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from medallion.config.base import ConfigModel
from medallion.config.model import EnvConfig, PipelineConfig
from medallion.errors import ConfigError

_ENV_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")  # ${VAR} or ${VAR:-default}

#: A configuration file larger than this is refused unread (a pipeline file is a few KiB).
MAX_CONFIG_BYTES = 1024 * 1024
#: Deeper YAML nesting than this is refused (the contract's files nest five levels).
MAX_CONFIG_DEPTH = 40
_SUBSTITUTED: set[str] = set()  # values ${VAR} expanded to: never echoed in a validation error


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate mapping keys, complex keys, anchors/aliases (an alias bomb
    expands exponentially) and nesting deeper than :data:`MAX_CONFIG_DEPTH`."""

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            raise yaml.composer.ComposerError(None, None, "aliases (*name) are not allowed", event.start_mark)
        if getattr(event, "anchor", None) is not None:
            raise yaml.composer.ComposerError(None, None, "anchors (&name) are not allowed", event.start_mark)
        self._depth += 1
        try:
            if self._depth > MAX_CONFIG_DEPTH:
                raise yaml.composer.ComposerError(None, None, f"nested deeper than {MAX_CONFIG_DEPTH} levels",
                                                  event.start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            raise yaml.constructor.ConstructorError(
                None, None, "mapping keys must be plain scalars (no complex '? [a, b]' keys)", key_node.start_mark
            )
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping safely, expanding ``${VAR}`` (``${VAR:-default}``: default when unset) from the environment.

    Raises:
        ConfigError: the file is missing, is not YAML, is not a mapping, or names an unset variable.
    """
    file = str(path)
    try:
        if Path(path).stat().st_size > MAX_CONFIG_BYTES:
            raise ConfigError(f"larger than {MAX_CONFIG_BYTES} bytes; not read", file=file)
        raw = Path(path).read_bytes()
    except OSError as err:
        raise ConfigError(f"cannot read the file ({err.strerror or err})", file=file) from err
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"not UTF-8 text (byte {err.start})", file=file) from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as err:
        raise ConfigError(f"not valid YAML: {err}", file=file) from None
    except (RecursionError, TypeError, ValueError, OverflowError) as err:  # constructors of odd scalars
        raise ConfigError(f"not valid YAML: {type(err).__name__}", file=file) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"expected a mapping at the top level, got {type(data).__name__}", file=file)
    return _expand(data, file, ())


def _expand(value: Any, file: str, where: tuple[str, ...]) -> Any:
    if isinstance(value, dict):
        return {k: _expand(v, file, (*where, str(k))) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, file, (*where, str(i))) for i, v in enumerate(value)]
    if isinstance(value, str):

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in os.environ and match.group(2) is not None:
                return match.group(2)
            if name not in os.environ:
                raise ConfigError(f"environment variable ${{{name}}} is not set", file=file, key=".".join(where))
            if len(os.environ[name]) >= 4:
                _SUBSTITUTED.add(os.environ[name])
            return os.environ[name]

        return _ENV_VAR.sub(substitute, value)
    return value


def _validate(model: type[ConfigModel], data: dict[str, Any], file: str) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as err:
        # Built from loc + msg only: pydantic's own str() echoes input values, which may hold secrets.
        lines = []
        for e in err.errors(include_input=False, include_url=False):
            key = ".".join(str(p) for p in e["loc"]) or "(top level)"
            msg = e["msg"].removeprefix("Value error, ")
            if e["type"] == "extra_forbidden":
                msg = "unknown key"
            lines.append(f"{key}: {msg}")
        message = "; ".join(lines)
        for value in sorted(_SUBSTITUTED, key=len, reverse=True):  # a ${VAR} value is never echoed
            message = message.replace(value, "***")
            message = message.replace(repr(value)[1:-1], "***")
        # `from None`: the chained pydantic error would print the input values again.
        raise ConfigError(message, file=file) from None


def load_env(path: str | Path) -> EnvConfig:
    """Load and validate an environment file."""
    return _validate(EnvConfig, load_yaml(path), str(path))


def load_pipeline(path: str | Path) -> PipelineConfig:
    """Load and validate a pipeline file."""
    return _validate(PipelineConfig, load_yaml(path), str(path))
