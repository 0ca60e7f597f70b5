"""Sending: from ``TaskOptions`` to a spool file (``enqueue``), through the backend this process
has (``backends``: uWSGI's ``uwsgi.spool`` or the local writer), to the ``TaskHandle`` a call
returns (``handle``)."""
