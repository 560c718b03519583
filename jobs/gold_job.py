"""Spark job entry file for the gold layer (Synapse batch / spark-submit with the wheel on --py-files).

Usage:
    spark-submit --py-files medallion-*.whl jobs/gold_job.py --pipeline P.yaml --env NAME [--conf-dir DIR]
"""
import sys

from medallion.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", "--layer", "gold", *sys.argv[1:]]))
