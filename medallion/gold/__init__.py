"""Gold: the declared aggregates over silver, rebuilt only where silver changed.

* :mod:`~medallion.gold.layer`: the layer's run (plan, build, write each table);
* :mod:`~medallion.gold.references`: the tables a gold ``sql`` reads (its placeholders).
"""
