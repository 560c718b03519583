"""Spark job entry file for the silver layer (Synapse batch / spark-submit with the wheel on --py-files).

Usage:
    spark-submit --py-files medallion-*.whl jobs/silver_job.py --pipeline P.yaml --env NAME [--conf-dir DIR]
"""
import sys

from medallion.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", "--layer", "silver", *sys.argv[1:]]))
