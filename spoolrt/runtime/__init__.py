"""Running tasks: the dispatcher that maps a run to its outcome (``dispatch``), the pure-Python
worker (``worker``, ``processes``), the callable uWSGI's spooler runs and its hooks
(``uwsgi_spooler``, ``guard``, ``ticker``), eager mode (``eager``) and the log fallback."""
