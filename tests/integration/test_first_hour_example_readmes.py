"""Every example README's first command works when copied into a shell in a fresh clone
(issue 14, item 5: the READMEs ran ``flask ...`` / ``python manage.py ...`` without the venv, and
the system ``flask`` answered ``No such command 'spoolrt'``).

The serving part of each line is exercised by test_flask.py and test_django.py; here the
set-up part runs as written, in a shell whose PATH has no venv, and the tool it leaves on the
PATH must be the repository's, with spoolrt's command.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.support.uwsgi import REPO

EXAMPLES = REPO / "examples"


def first_command(readme: Path) -> str:
    block = re.search(r"```sh\n(.*?)```", readme.read_text(), re.S)
    assert block, f"{readme} has no sh block"
    return block.group(1).splitlines()[0].split("#")[0].strip()


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "SPOOLRT_VENV")}
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if not (Path(p) / "activate").exists()
    )
    return env


@pytest.mark.parametrize(
    ("example", "probe"),
    [
        ("flask_app", "flask --app app spoolrt --help"),
        ("django_project", "python manage.py spoolrt --help"),
    ],
)
def test_the_readme_set_up_gives_the_repository_tools(example: str, probe: str) -> None:
    line = first_command(EXAMPLES / example / "README.md")
    steps = line.split(" && ")
    set_up = [s for s in steps if "serve" not in s and "migrate" not in s]
    assert set_up == ["../../dev venv", ". ../../.venv/bin/activate"], line
    script = " && ".join([*set_up, "command -v " + probe.split()[0], probe])
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=EXAMPLES / example,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    found = Path(os.path.abspath(done.stdout.splitlines()[1]))  # not resolved: a venv links
    assert found.is_relative_to(REPO / ".venv"), found
    assert "serve" in done.stdout and "No such command" not in done.stderr
