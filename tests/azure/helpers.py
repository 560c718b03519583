"""Helpers shared by the Azure delivery tests."""
from __future__ import annotations

import argparse
import base64
import json
import time
import zipfile
from pathlib import Path

SYNAPSE = "https://dev.azuresynapse.net"
FAR = 4_102_444_800  # 2100-01-01
ACCOUNT_HOST = "acct.dfs.core.windows.net"


def make_token(*, audience: str = SYNAPSE, expires_on: float = FAR, secret: str = "standin-secret-0123456789") -> str:
    """An unsigned JWT with the claims the stand-in checks (aud, exp); the signature part is a secret marker."""
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    claims = {"aud": audience, "exp": int(expires_on), "oid": "00000000-0000-0000-0000-0000000000aa"}
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}.{secret}"


TOKEN = make_token()


class FakeCredential:
    """An azure-core TokenCredential handing out JWTs for the scope's audience (no identity provider here).

    Args:
        lifetime: seconds each token lives; a new token is minted on every call (like a credential whose
            cache has expired), so a short lifetime exercises renewal.
    """

    def __init__(self, lifetime: float | None = None) -> None:
        self.lifetime = lifetime
        self.scopes: list[tuple[str, ...]] = []
        self.issued = 0

    def _mint(self, scopes: tuple[str, ...]) -> tuple[str, int]:
        self.scopes.append(scopes)
        self.issued += 1
        audience = scopes[0].removesuffix("/.default") if scopes else SYNAPSE
        expires = time.time() + self.lifetime if self.lifetime else FAR
        return make_token(audience=audience, expires_on=expires), int(expires)

    def get_token(self, *scopes: str, **kwargs: object):  # noqa: ANN201
        from azure.core.credentials import AccessToken

        return AccessToken(*self._mint(scopes))

    def get_token_info(self, *scopes: str, options: object = None):  # noqa: ANN201
        from azure.core.credentials import AccessTokenInfo

        return AccessTokenInfo(*self._mint(scopes))


WHEEL = "medallion-0.1.0-py3-none-any.whl"


def lay_out_artifacts(root: Path, version: str, jobs: dict[str, str], *, deps: dict[str, str] | None = None) -> str:
    """Write a published-artifact folder (as `medallion publish` leaves it) straight to the storage root.

    ``deps`` are the files of ``deps.zip`` (default: one module ``standin_dep`` the jobs may import).
    """
    folder = root / "acct" / "artifacts" / "medallion" / version
    (folder / "jobs").mkdir(parents=True)
    for name, text in jobs.items():
        (folder / "jobs" / name).write_text(text)
    with zipfile.ZipFile(folder / WHEEL, "w") as wheel:
        wheel.writestr("standin_marker/__init__.py", "MARK = 'from the wheel'\n")
    with zipfile.ZipFile(folder / "conf.zip", "w") as conf:
        conf.writestr("pipelines/orders.yaml", "dataset: orders\n")
        conf.writestr("env/dev.yaml", "name: dev\n")
    with zipfile.ZipFile(folder / "deps.zip", "w") as archive:
        for name, text in (deps if deps is not None else {"standin_dep/__init__.py": "DEP = 'from deps.zip'\n"}).items():
            archive.writestr(name, text)
    return f"abfss://artifacts@{ACCOUNT_HOST}/medallion/{version}"


def run_cli(argv: list[str]) -> int:
    """Parse and dispatch exactly as medallion.cli does for the Azure subcommands."""
    from medallion.azure.commands import add_parsers

    parser = argparse.ArgumentParser(prog="medallion")
    add_parsers(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.handler(args)
