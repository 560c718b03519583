"""Bronze: landing files into an append-only Delta table, every record kept, each file exactly once.

* :mod:`~medallion.bronze.layer`: the layer's run (plan, read, append, record);
* :mod:`~medallion.bronze.listing`: every data file of the landing zone;
* :mod:`~medallion.bronze.landing`: read landing files without losing a record;
* :mod:`~medallion.bronze.landing_json`: JSON lines in one pass when every key is known up front;
* :mod:`~medallion.bronze.unreadable`: which file cannot be read at all, and why;
* :mod:`~medallion.bronze.source_names`: how a source key becomes a bronze column name;
* :mod:`~medallion.bronze.file_log`: the file record (``_audit/files``), its schema, writer and readers.
"""
