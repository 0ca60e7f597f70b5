"""Status and results of tasks: the store contract and its implementations.

``SQLiteResultStore`` is the embedded default (one file per spool directory, no server);
``MemoryResultStore`` serves eager mode and tests. Both implement ``ResultStore``, whose
docstrings are the contract for any other store.
"""

from spoolrt.results.base import (
    UNDESCRIBED,
    ResultStore,
    ResultStoreError,
    TaskDescription,
    TaskRecord,
    TaskStart,
    supersedes,
)
from spoolrt.results.memory import MemoryResultStore
from spoolrt.results.sqlite import SQLiteResultStore

__all__ = [
    "MemoryResultStore",
    "ResultStore",
    "ResultStoreError",
    "TaskDescription",
    "UNDESCRIBED",
    "SQLiteResultStore",
    "TaskRecord",
    "TaskStart",
    "supersedes",
]
