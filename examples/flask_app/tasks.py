"""The example's task. It runs in a uWSGI spooler process, inside an app context of the app."""

import os

from flask import current_app

from spoolrt import Spooler


@Spooler.task(retries=2)
def word_count(text: str) -> dict[str, object]:
    words = text.split()
    return {
        "title": current_app.config["REPORT_TITLE"],  # the app context is there, as in a view
        "words": len(words),
        "distinct": len({w.lower() for w in words}),
        "pid": os.getpid(),
    }
