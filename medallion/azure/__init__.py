"""Azure delivery: publish artifacts to ADLS Gen2 and run layer jobs as Synapse Spark batch jobs.

Nothing here is imported by ``medallion run``: the Azure SDKs are optional (``pip install
medallion[azure]``) and are imported lazily by :mod:`medallion.azure.commands`.
"""
from __future__ import annotations

__all__: list[str] = []
