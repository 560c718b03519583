"""Azure delivery: publish artifacts to ADLS Gen2 and run jobs as Synapse Spark batch jobs.

One module per concern:

* :mod:`medallion.azure.payload` - the Livy batch request body: what to run, sizes, archives;
* :mod:`medallion.azure.livy` - the Livy batch API: client, states, cancel, logs;
* :mod:`medallion.azure.polling` - one batch run to its end: polling, cancel on every way out, what failed;
* :mod:`medallion.azure.credentials` - which credential, token expiry, why a token was refused;
* :mod:`medallion.azure.devops` - Azure DevOps logging commands (``##vso[...]``);
* :mod:`medallion.azure.storage` - publish / download on ADLS Gen2;
* :mod:`medallion.azure.bundle` - the dependency archive for the pool's platform;
* :mod:`medallion.azure.commands` - the CLI subcommands (registered there; handlers in ``publish_commands``,
  ``submit_commands``, ``gate``; shared options and helpers in ``cli_common``).

Nothing here is imported by ``medallion run``: the Azure SDKs are optional (``pip install
medallion[azure]``) and are imported inside the functions that need them.
"""
from __future__ import annotations

__all__: list[str] = []
