"""``python -m spoolrt.worker``: the pure-Python worker, where the README has always put it.

The same as ``spoolrt worker`` (``spoolrt.cli.worker``); the worker itself is
``spoolrt.runtime.worker.Worker``.
"""

import sys

from spoolrt.cli import worker_main
from spoolrt.runtime.worker import ERROR, Worker

__all__ = ["ERROR", "Worker", "worker_main"]

if __name__ == "__main__":
    sys.exit(worker_main(sys.argv[1:]))
