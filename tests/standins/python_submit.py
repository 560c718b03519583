"""A ``spark-submit`` for jobs that need no JVM: the Livy stand-ins run a batch through it to save a JVM start.

It takes the command line the stand-ins build (``[--master M] [--conf K=V ...] --name N [--py-files a,b]
[--jars ...] [--class C] FILE ARGS...``) and runs FILE with this interpreter (the pool's Python) as
``__main__``, with ``--py-files`` entries (wheels and zips are importable) at the front of ``sys.path``
as Spark puts them on the driver's ``PYTHONPATH``. Unknown options fail, as spark-submit's parser does.
No Spark is started: a job that imports pyspark and asks for a session needs the real ``spark-submit``.

Run as a script (``python python_submit.py --name n job.py arg``); it imports nothing from this repository.
"""
from __future__ import annotations

import runpy
import sys

_WITH_VALUE = ("--master", "--name", "--jars", "--class", "--packages", "--deploy-mode")


def main(argv: list[str]) -> None:
    py_files: list[str] = []
    index = 0
    while index < len(argv) and argv[index].startswith("--"):
        option = argv[index]
        if index + 1 >= len(argv):
            raise SystemExit(f"python_submit: {option} needs a value")
        value = argv[index + 1]
        if option == "--py-files":
            py_files = [p for p in value.split(",") if p]
        elif option == "--conf":
            if "=" not in value:
                raise SystemExit(f"python_submit: --conf {value!r} is not KEY=VALUE")
        elif option not in _WITH_VALUE:
            raise SystemExit(f"python_submit: unknown option {option}")
        index += 2
    if index >= len(argv):
        raise SystemExit("python_submit: no application file")
    file, args = argv[index], argv[index + 1:]
    sys.path[:0] = py_files
    sys.argv = [file, *args]
    runpy.run_path(file, run_name="__main__")


if __name__ == "__main__":
    main(sys.argv[1:])
