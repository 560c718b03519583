"""A local Azure Pipelines agent for the tests: expand our YAML as Azure does, run its bash steps."""
