"""Helpers shared by the Azure delivery tests."""
from __future__ import annotations

import argparse
import zipfile
from pathlib import Path

TOKEN = "standin-secret-token-0123456789"
ACCOUNT_HOST = "acct.dfs.core.windows.net"


class FakeCredential:
    """An azure-core TokenCredential that hands out a fixed token (no identity provider here)."""

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: object):  # noqa: ANN201
        from azure.core.credentials import AccessToken

        self.scopes.append(scopes)
        return AccessToken(self.token, 4_102_444_800)

    def get_token_info(self, *scopes: str, options: object = None):  # noqa: ANN201
        from azure.core.credentials import AccessTokenInfo

        self.scopes.append(scopes)
        return AccessTokenInfo(self.token, 4_102_444_800)


def lay_out_artifacts(root: Path, version: str, jobs: dict[str, str]) -> str:
    """Write a published-artifact folder (as `medallion publish` leaves it) straight to the storage root."""
    folder = root / "acct" / "artifacts" / "medallion" / version
    (folder / "jobs").mkdir(parents=True)
    for name, text in jobs.items():
        (folder / "jobs" / name).write_text(text)
    with zipfile.ZipFile(folder / "medallion-0.1.0-py3-none-any.whl", "w") as wheel:
        wheel.writestr("standin_marker/__init__.py", "MARK = 'from the wheel'\n")
    with zipfile.ZipFile(folder / "conf.zip", "w") as conf:
        conf.writestr("pipelines/orders.yaml", "dataset: orders\n")
        conf.writestr("env/dev.yaml", "name: dev\n")
    return f"abfss://artifacts@{ACCOUNT_HOST}/medallion/{version}"


def run_cli(argv: list[str]) -> int:
    """Parse and dispatch exactly as medallion.cli does for the Azure subcommands."""
    from medallion.azure.commands import add_parsers

    parser = argparse.ArgumentParser(prog="medallion")
    add_parsers(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.handler(args)
