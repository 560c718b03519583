"""Spark job entry file for the run report (Synapse batch / spark-submit with the wheel on --py-files).

Usage:
    spark-submit --py-files medallion-*.whl jobs/report_job.py --env NAME [--conf-dir DIR]
        [--pipeline P.yaml | --all] [--out report.html | abfss://…/report.html] [--runs N]

An ``abfss://`` ``--out`` is written through the session's Hadoop FileSystem (the workspace identity).
"""
import sys

from medallion.cli import main

if __name__ == "__main__":
    sys.exit(main(["report", *sys.argv[1:]]))
