"""What the faces (the CLI, the dashboard, ``/metrics``) read, in one place below all of them.

- ``scan``: every task file of some spool directories, with the state a person calls it by;
- ``history``: finished tasks from the result store (history pages, durations, schedule runs);
- ``metrics``: the Prometheus metric families, computed at scrape time from both.

Nothing here writes, and nothing is kept between calls: each call reads the spool directories
and the store as they are, so every face shows the same truth.
"""
