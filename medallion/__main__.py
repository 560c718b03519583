"""``python -m medallion``: the same as the ``medallion`` command."""
from medallion.cli import entrypoint

entrypoint()
