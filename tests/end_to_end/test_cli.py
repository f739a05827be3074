"""The installed ``kaizen`` command, run as a user would: real processes, real database."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import time

import pytest
from sqlalchemy import select

from adapters.host.runtime import Runtime
from adapters.host.settings import Settings
from storage import migrate
from storage.models import PersonRow
from tests.machine import KAIZEN


def kaizen(*args: str, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [KAIZEN, *args], input=stdin, env=env, capture_output=True, text=True, timeout=60,
    )


def test_scripted_console_session_stores_one_idea(cli_env: dict[str, str]) -> None:
    standard = "Expense claims are printed & signed by hand"
    problem = "It takes 15 minutes <per claim>; scans get lost"
    proposal = "Approve claims in the expense app #finance"
    script = f"printf '/kaizen\\n{standard}\\n{problem}\\n{proposal}\\n' | {KAIZEN} chat --user ana"
    chat = subprocess.run(script, shell=True, env=cli_env, capture_output=True, text=True,
                          timeout=60)
    assert chat.returncode == 0, chat.stderr
    assert "saved as KZ-1" in chat.stdout

    listed = kaizen("ideas", "--format", "json", env=cli_env)
    assert listed.returncode == 0, listed.stderr
    [idea] = json.loads(listed.stdout)
    assert idea["key"] == "KZ-1" and idea["id"] == 1
    assert (idea["standard"], idea["problem"]) == (standard, problem)
    assert idea["proposal"] == "Approve claims in the expense app"  # trailing #tag is the area
    assert idea["area"] == "finance" and idea["author"] == "ana"
    assert idea["status"] == "submitted" and idea["created_at"]


def test_ideas_formats_and_status_filter(cli_env: dict[str, str]) -> None:
    one_shot = "/kaizen standard: =SUM(A1); problem: b; proposal: c\n"
    assert kaizen("chat", "--user", "bob", env=cli_env, stdin=one_shot).returncode == 0

    rows = list(csv.DictReader(io.StringIO(kaizen("ideas", "--format", "csv",
                                                  env=cli_env).stdout)))
    assert [r["key"] for r in rows] == ["KZ-1"]
    assert rows[0]["standard"] == "'=SUM(A1)"  # a spreadsheet will not run it

    table = kaizen("ideas", env=cli_env).stdout
    assert "KZ-1" in table and "submitted" in table and "bob" in table
    assert json.loads(kaizen("ideas", "--status", "approved", "--format", "json",
                             env=cli_env).stdout) == []
    bad = kaizen("ideas", "--status", "nonsense", env=cli_env)
    assert bad.returncode == 2 and "invalid choice" in bad.stderr


def test_chat_exits_cleanly_on_end_of_input_and_ignores_blank_lines(
    cli_env: dict[str, str]
) -> None:
    result = kaizen("chat", "--user", "ana", env=cli_env, stdin="\n\n/kaizen help\n")
    assert result.returncode == 0
    assert "/kaizen mine" in result.stdout
    assert result.stderr == ""


async def test_chat_as_manager_records_the_role(cli_env: dict[str, str],
                                                database_url: str) -> None:
    assert kaizen("chat", "--user", "mia", "--manager", env=cli_env).returncode == 0
    runtime = Runtime.create(Settings(database_url=database_url))
    try:
        async with runtime.sessions() as session:
            person = (await session.execute(select(PersonRow))).scalar_one()
    finally:
        await runtime.close()
    assert (person.user_id, person.role) == ("mia", "manager")


def test_db_upgrade_and_current(empty_database_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": empty_database_url}
    refused = kaizen("ideas", env=env)
    assert refused.returncode == 2 and "kaizen db upgrade" in refused.stderr
    assert "not migrated" in kaizen("db", "current", env=env).stdout
    upgraded = kaizen("db", "upgrade", env=env)
    head = migrate.head_revision()
    assert upgraded.returncode == 0 and f"migrated from empty to {head}" in upgraded.stdout
    assert kaizen("db", "current", env=env).stdout.strip() == f"{head} (head)"
    again = kaizen("db", "upgrade", env=env)  # nothing changed, and it says so
    assert again.returncode == 0
    assert again.stdout.strip() == f"database already at {head}: nothing to migrate"


def test_a_reader_that_stops_early_is_no_error(cli_env: dict[str, str]) -> None:
    """``kaizen ideas --format csv | head -1``: no BrokenPipeError traceback (the CSV, over
    100 KB, is more than the pipe holds, so the writer meets the closed pipe)."""
    long = "$(printf 'x%.0s' $(seq 1900))"
    script = (f"for n in $(seq 20); do echo \"/kaizen standard: s$n {long}; problem: {long}; "
              f"proposal: {long}\"; done | {KAIZEN} chat --user ana >/dev/null "
              f"&& {KAIZEN} ideas --format csv | head -1")
    result = subprocess.run(["bash", "-o", "pipefail", "-c", script], env=cli_env,
                            capture_output=True, text=True, timeout=120)
    assert result.stdout.startswith("id,key,status")
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr
    assert result.returncode == 0


@pytest.mark.parametrize("command", [[], ["serve"], ["db"], ["chat"], ["ideas"]])
def test_every_command_has_help(command: list[str]) -> None:
    result = subprocess.run([KAIZEN, *command, "--help"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0 and "usage: kaizen" in result.stdout


def test_bad_configuration_is_a_clear_error(cli_env: dict[str, str]) -> None:
    result = kaizen("ideas", env={**cli_env, "KAIZEN_TIMEZONE": "Mars/Olympus"})
    assert result.returncode == 2
    assert "not an IANA time zone" in result.stderr and "Traceback" not in result.stderr


def test_ctrl_c_ends_the_chat_at_once(cli_env: dict[str, str]) -> None:
    """Interrupting while the chat waits for input exits promptly with 130, no traceback."""
    process = subprocess.Popen([KAIZEN, "chat", "--user", "ana"], env=cli_env, text=True,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    assert process.stdin is not None
    process.stdin.write("/kaizen help\n")
    process.stdin.flush()
    # Once it has answered, it waits for the next line (stdin stays open): interrupt then.
    assert process.stdout is not None
    deadline = time.monotonic() + 30
    while "Managers and admins" not in (line := process.stdout.readline()):
        assert line and time.monotonic() < deadline, "kaizen chat never answered"
    process.send_signal(signal.SIGINT)
    try:
        _, stderr = process.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        raise AssertionError("kaizen chat ignored Ctrl-C while waiting for input") from None
    assert process.returncode == 130
    assert "Traceback" not in stderr


def test_console_runs_the_whole_lifecycle(cli_env: dict[str, str]) -> None:
    """Capture as ana, support as bob, approve by reaction and implement as a manager."""
    env = {**cli_env, "KAIZEN_MANAGERS": "console:mia"}
    kaizen("chat", "--user", "ana", env=env,
           stdin="/kaizen process: Claims; standard: paper; problem: slow; proposal: app\n")
    bob = kaizen("chat", "--user", "bob", env=env, stdin=":react KZ-1 +1\n:react KZ-1\n")
    assert "Thanks for supporting KZ-1" in bob.stdout and "Usage: :react" in bob.stdout
    mia = kaizen("chat", "--user", "mia", env=env,
                 stdin=":react KZ-1 white_check_mark\n/kaizen implemented KZ-1\n")
    assert "[to ana] Good news: your idea KZ-1 was approved by mia." in mia.stdout
    assert "now the standard for “Claims” (version 2)" in mia.stdout

    [idea] = json.loads(kaizen("ideas", "--format", "json", "--history", env=env).stdout)
    assert (idea["status"], idea["support"], idea["decided_by"], idea["process"]) == (
        "implemented", 1, "mia", "Claims"
    )
    assert [(h["actor"], h["action"], h["to"]) for h in idea["history"]] == [
        ("ana", "submit", "submitted"),
        ("bob", "support", None),
        ("mia", "approve", "approved"),
        ("mia", "implement", "implemented"),
        ("mia", "revise_standard", None),
    ]
    assert idea["history"][2]["via"] == "reaction:white_check_mark"
    refused = kaizen("ideas", "--history", env=env)
    assert refused.returncode == 2 and "--format json" in refused.stderr


def test_chat_as_manager_can_decide(cli_env: dict[str, str]) -> None:
    kaizen("chat", "--user", "ana", env=cli_env,
           stdin="/kaizen standard: s; problem: p; proposal: x\n")
    member = kaizen("chat", "--user", "bob", env=cli_env, stdin="/kaizen approve KZ-1\n")
    assert "only managers and admins" in member.stdout
    manager = kaizen("chat", "--user", "mia", "--manager", env=cli_env,
                     stdin="/kaizen approve KZ-1\n")
    assert "KZ-1 is now approved" in manager.stdout


@pytest.mark.parametrize(("variable", "value", "says"), [
    ("KAIZEN_LOG_LEVEL", "LOUD", "KAIZEN_LOG_LEVEL: 'LOUD' is not a log level"),
    ("KAIZEN_PORT", "abc", "KAIZEN_PORT:"),
    ("DATABASE_URL", "mysql://db/kaizen", "DATABASE_URL: unsupported backend 'mysql'"),
    ("DATABASE_URL", "notaurl", "DATABASE_URL: not a database URL"),
    ("DATABASE_URL", "postgresql://postgres@127.0.0.1:9/test",
     "cannot reach the database at postgresql://postgres@127.0.0.1:9/test"),
    ("DATABASE_URL", "sqlite:////nonexistent-folder/kaizen.db",
     "cannot open the SQLite file"),
])
def test_setup_mistakes_are_one_line_naming_what_to_fix(
        cli_env: dict[str, str], variable: str, value: str, says: str) -> None:
    result = kaizen("db", "upgrade", env={**cli_env, variable: value})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], result.stderr


def test_a_missing_postgresql_database_says_how_to_create_it(cli_env: dict[str, str]) -> None:
    base = os.environ.get("KAIZEN_TEST_POSTGRES_URL")
    if not base:
        pytest.skip("needs KAIZEN_TEST_POSTGRES_URL")
    from sqlalchemy.engine import make_url

    url = make_url(base).set(database="kz_no_such_db").render_as_string(hide_password=False)
    result = kaizen("db", "upgrade", env={**cli_env, "DATABASE_URL": url})
    assert result.returncode == 2
    assert result.stderr.strip() == ("kaizen: database 'kz_no_such_db' does not exist on "
                                     "127.0.0.1: create it (e.g. `createdb kz_no_such_db`) or "
                                     "fix DATABASE_URL")


def test_a_port_in_use_is_one_line_not_a_traceback(cli_env: dict[str, str]) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([KAIZEN, "serve", "--host", "127.0.0.1", "--port", str(port),
                                 "--no-scheduler"], env=cli_env, capture_output=True, text=True,
                                timeout=60)
    assert result.returncode == 2
    assert f"kaizen: cannot serve on 127.0.0.1:{port}: that port is already in use" in (
        result.stderr)
    assert "Traceback" not in result.stderr
