"""Sample data and benchmarks for medallion (not part of the wheel).

- :mod:`benchmarks.datagen` writes deterministic ``orders`` landing files with realistic defects and a
  manifest of the counts each layer must produce.
- :mod:`benchmarks.run` measures each layer against a bare-Spark baseline on the same data.
"""
