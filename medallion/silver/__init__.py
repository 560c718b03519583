"""Silver: bronze rows cleansed, checked, deduplicated and MERGEd newest-wins, exactly once.

* :mod:`~medallion.silver.layer`: the layer's run (count once, dead-letter, MERGE or history);
* :mod:`~medallion.silver.plan`: which bronze versions a run consumes;
* :mod:`~medallion.silver.prepare`: bronze rows cleansed, checked and ranked in one transform;
* :mod:`~medallion.silver.expectations`: the ``columns:`` and ``expectations:`` as Columns, one pass;
* :mod:`~medallion.silver.merge`: the newest-wins Delta MERGE;
* :mod:`~medallion.silver.scd2`: ``history: scd2``, every version of a key with its validity;
* :mod:`~medallion.silver.deletes`: ``delete_when`` and the tombstones that keep deletes;
* :mod:`~medallion.silver.dead_letters`: the dead-letter table's row layout, status and migration.
"""
