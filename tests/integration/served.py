"""A framework's own ``... spoolrt serve`` command under test (``flask spoolrt serve``,
``manage.py spoolrt serve``).

``spoolrt serve`` execs uWSGI, so the PID of the command is the uWSGI master's: the instance is
started and stopped exactly like a ``UwsgiInstance`` (its own process group, SIGINT then the
group's SIGKILL), and offers the same request helpers.
"""

from __future__ import annotations

import json
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tests.support.uwsgi import UwsgiInstance, wait_for


class ServedCommand(UwsgiInstance):
    def __init__(
        self,
        command: Sequence[str],
        *,
        cwd: Path,
        workdir: Path,
        env: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__("basic.ini", workdir, env=env)
        # The frameworks derive the signing key from their own SECRET_KEY; the test key that
        # UwsgiInstance puts in the environment would override it.
        self.env.pop("SPOOLRT_SECRET_KEY", None)
        self.command = [*command, "--http", f"127.0.0.1:{self.port}", "--state", str(workdir)]
        self.cwd = cwd

    def start(self, timeout: float = 60.0) -> ServedCommand:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
            )
        try:
            wait_for(self._ready, timeout, 0.05, f"`{' '.join(self.command)}` to serve")
        except BaseException:
            self.stop()
            raise
        return self

    def post_form(self, path: str, fields: Mapping[str, str]) -> tuple[int, Any]:
        """POST ``fields`` form-encoded, as ``curl -d name=value`` does (the READMEs' command)."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", data=urllib.parse.urlencode(fields).encode()
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
