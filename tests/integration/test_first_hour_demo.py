"""The demo ends with the commands that inspect what it did, and they work as printed: run
from the repository root, ``show`` verifies the signature with the demo's own key (issue 14,
item 6: ``spoolrt show`` called "forged" the files the demo had signed with its key)."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.support.uwsgi import REPO, free_port


def test_demo_prints_inspection_commands_that_verify() -> None:
    demo = subprocess.run(
        [sys.executable, str(REPO / "examples" / "demo.py"), "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert demo.returncode == 0, demo.stderr + demo.stdout
    tail = demo.stdout.split("look at what it did", 1)[1]
    commands = [line.strip() for line in tail.splitlines() if "SPOOLRT_KEY_FILE=" in line]
    assert [c.split()[2] for c in commands] == ["ls", "show", "stats"], commands
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPOOLRT_")}
    outputs = {}
    for command in commands:
        done = subprocess.run(
            command, shell=True, cwd=REPO, env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, f"{command}:\n{done.stderr}"
        outputs[command.split()[2]] = done.stdout
    assert "signature   verified" in outputs["show"], outputs["show"]
    assert "state       failed" in outputs["show"]
    assert "broken_export" in outputs["ls"]
