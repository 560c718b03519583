"""Spark job entry file for the post-run data-quality checks (Synapse batch / spark-submit with the wheel on --py-files).

Usage:
    spark-submit --py-files medallion-*.whl jobs/check_job.py --pipeline P.yaml --env NAME [--conf-dir DIR]

Exits 0 when every check passed, 1 when one failed (the batch then ends failed).
"""
import sys

from medallion.cli import main

if __name__ == "__main__":
    sys.exit(main(["check", *sys.argv[1:]]))
