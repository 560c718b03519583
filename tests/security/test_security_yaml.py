"""Malformed and hostile YAML: exit 2 naming the file and the reason, never a traceback, and fast."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from medallion.config import load_pipeline
from medallion.config.loading import MAX_CONFIG_BYTES
from medallion.errors import ConfigError

ALIAS_BOMB = "\n".join(
    ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    + [f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)}]" for i in range(9)]
) + "\n"

HOSTILE: dict[str, tuple[bytes, str]] = {
    "alias_bomb": (ALIAS_BOMB.encode(), "anchors"),
    "alias_only": (b"dataset: orders\nx: *nothing\n", "not valid YAML"),
    "not_utf8": (b"dataset: orders\nsource: \xff\xfe\x00bad\n", "not UTF-8"),
    "complex_key": (b"? [a, b]\n: 1\n", "plain scalars"),
    "deep_nesting": (("x: " + "[" * 5000 + "]" * 5000 + "\n").encode(), "nested deeper"),
    "deep_block": ("".join(f"{'  ' * i}k{i}:\n" for i in range(200)).encode() + b"  " * 200 + b"v\n", "nested deeper"),
    "too_large": (b"dataset: orders\n" + b"# padding\n" * (MAX_CONFIG_BYTES // 10 + 1), "larger than"),
    "name_with_newline": (b'dataset: "orders\\n"\nsource: {format: json, path: p, source_system: s}\nbronze: {table: orders}\n',
                          "not a valid name"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_loader_refuses(tmp_path: Path, name: str) -> None:
    body, reason = HOSTILE[name]
    path = tmp_path / f"{name}.yaml"
    path.write_bytes(body)
    with pytest.raises(ConfigError) as caught:
        load_pipeline(path)
    assert str(caught.value).startswith(f"{path}: "), caught.value
    assert reason in str(caught.value)


def test_a_var_value_is_never_echoed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pat = "q" * 40 + "\n"  # an innocently named variable holding a PAT-like value, not a valid name
    monkeypatch.setenv("MY_PIPELINE_NAME", pat)
    path = tmp_path / "p.yaml"
    path.write_text("dataset: ${MY_PIPELINE_NAME}\nsource: {format: json, path: p, source_system: s}\nbronze: {table: orders}\n")
    with pytest.raises(ConfigError) as caught:
        load_pipeline(path)
    assert "qqqqqqqq" not in str(caught.value)
    assert "dataset" in str(caught.value)


def test_cli_exit_2_without_traceback(tmp_path: Path) -> None:
    """Every hostile file through ``medallion validate`` (one process, no JVM: the files fail first)."""
    conf = tmp_path / "conf"
    (conf / "env").mkdir(parents=True)
    (conf / "pipelines").mkdir()
    (conf / "env" / "t.yaml").write_text(f"name: t\nlanding_root: {tmp_path}/landing\nlakehouse_root: {tmp_path}/lake\n")
    for name, (body, _) in HOSTILE.items():
        (conf / "pipelines" / f"{name}.yaml").write_bytes(body)
    script = (
        "import sys, json, io, contextlib\nfrom medallion.cli import main\nout = {}\n"
        f"for name in {sorted(HOSTILE)!r}:\n"
        "    err = io.StringIO()\n"
        "    with contextlib.redirect_stderr(err):\n"
        f"        code = main(['validate', '--pipeline', '{conf}/pipelines/' + name + '.yaml', '--env', 't', '--conf-dir', '{conf}'])\n"
        "    out[name] = [code, err.getvalue()]\n"
        "print(json.dumps(out))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    import json

    results = json.loads(done.stdout.strip().splitlines()[-1])
    for name, (code, err) in results.items():
        assert code == 2, (name, err)
        assert "Traceback" not in err, (name, err)
        assert f"{name}.yaml" in err and HOSTILE[name][1] in err, (name, err)
    assert "Traceback" not in done.stderr
