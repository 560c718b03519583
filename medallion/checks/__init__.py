"""Table checks: declared ``checks:`` evaluated every run, and ``medallion check``'s post-run checks.

* :mod:`~medallion.checks.declared_checks`: the ``checks:`` of silver and each gold table;
* :mod:`~medallion.checks.table_checks`: fixed consistency checks over the tables and the run log.
"""
