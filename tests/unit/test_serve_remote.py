"""``spoolrt serve``'s remote-pool options: what they refuse, and the ini lines they give (the
same as uwsgi_configs/spooler_node_subscribed.ini and fastrouter.ini; booted for real in
tests/integration/test_fastrouter.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from spoolrt.cli import EXIT_OK, EXIT_USAGE, main


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--socket", "nowhere"], "--socket"),
        (["--subscribe", "127.0.0.1:3031"], "--subscribe and --pool-key go together"),
        (["--subscribe", "127.0.0.1:3031", "--pool-key", "k"], "--subscribe needs --socket"),
        (["--socket", "127.0.0.1:1", "--subscribe", "127.0.0.1:2", "--pool-key", "a,b"], "key"),
        (["--fastrouter", "127.0.0.1:3030"], "--subscription-server go together"),
    ],
)
def test_remote_options_that_mean_nothing_are_usage_errors(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    argv = ["serve", "app", "--state", str(tmp_path), "--print-config", *args]
    assert main(argv) == EXIT_USAGE
    assert message in capsys.readouterr().err


def test_a_subscribed_node_and_a_router_get_the_shipped_configs_lines(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    argv = ["serve", "app", "--state", str(tmp_path), "--print-config", "--no-import-check"]
    argv += ["--socket", "10.0.0.5:3031", "--subscribe", "10.0.0.4:3031", "--pool-key", "reports"]
    argv += ["--fastrouter", "10.0.0.4:3030", "--subscription-server", "10.0.0.4:3031"]
    assert main(argv) == EXIT_OK
    lines = set(capsys.readouterr().out.splitlines())
    assert {
        "socket = 10.0.0.5:3031",
        "buffer-size = 4096",
        "subscribe2 = server=10.0.0.4:3031,key=reports,addr=10.0.0.5:3031,modifier1=17",
        "subscribe-freq = 2",
        "fastrouter = 10.0.0.4:3030",
        "fastrouter-subscription-server = 10.0.0.4:3031",
        "fastrouter-timeout = 2",
        "subscription-tolerance = 12",
    } <= lines


def test_without_remote_options_the_ini_has_no_remote_lines(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["serve", "app", "--state", str(tmp_path), "--print-config"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "socket = " not in out.replace("http-socket = ", "") and "subscribe" not in out
