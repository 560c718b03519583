"""What configuration may do, and what never leaves: the sandbox for configuration SQL.

* :mod:`~medallion.security.sql_safety`: checks on the parse tree (one statement, IDENTIFIER, TRANSFORM, ``${``);
* :mod:`~medallion.security.sandbox`: the analysed plan walked against an allow-list of plan nodes and expressions;
* :mod:`~medallion.security.sandbox_config`: every SQL text of a pipeline analysed against stand-in inputs;
* :mod:`~medallion.security.hardening`: session settings forced after the env file's, Spark's log lines masked;
* :mod:`~medallion.security.source_roots`: ``sources.allowed_roots``, where ``source.path`` may point.

Secret masking itself is :func:`medallion.logs.mask_secrets`. The threat model: docs/SECURITY.md.
"""
