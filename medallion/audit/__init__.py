"""What a run leaves behind about itself: outcomes, the accounting identity and the run log.

* :mod:`~medallion.audit.outcome`: what a layer run is given and returns (:class:`RunContext`, :class:`LayerOutcome`);
* :mod:`~medallion.audit.run_log`: the run log (``_audit/runs``): its record, schema, writer and readers.
"""
