"""The ``medallion dlq`` commands: inspect, discard and replay dead letters.

* :mod:`~medallion.dlq.cli`: the subcommands' parsers and handlers (registered by :mod:`medallion.cli`);
* :mod:`~medallion.dlq.commands`: inspect and discard, the command's selection and its transaction state;
* :mod:`~medallion.dlq.replay`: replay dead letters under the current config, exactly once;
* :mod:`~medallion.dlq.reevaluate`: dead letters re-evaluated as silver would evaluate them now.
"""
