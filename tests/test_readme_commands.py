"""Every `callcentre ...` line of the README's "Command line" block runs as written."""

from __future__ import annotations

import argparse
import os
import shlex
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pytest

from bench.servers import free_port
from tests.test_cli import callcentre, env_for
from web.cli import build_parser

README = Path(__file__).resolve().parents[1] / "README.md"
LONG_RUNNING = {"serve", "demo", "simulator"}
READY_SECONDS = 30.0


def command_block(readme: str) -> list[str]:
    """The lines of the first code block after the "## Command line" heading."""
    section = readme.split("\n## Command line\n", 1)[1]
    block = section.split("```", 2)[1]
    return block.splitlines()


def command_tokens(line: str, *, optional: bool) -> list[str]:
    """The words after `callcentre`, without the `# comment`; `[...]` groups dropped, or with
    ``optional`` kept unless they only stand for repetition (`[--role ...]`)."""
    tokens = shlex.split(line, comments=True)
    assert tokens[0] == "callcentre", line
    kept: list[str] = []
    group: list[str] | None = None
    for token in tokens[1:]:
        if group is None and token.startswith("["):
            group = []
        if group is None:
            kept.append(token)
            continue
        group.append(token.removeprefix("[").removesuffix("]"))
        if token.endswith("]"):
            if optional and "..." not in group:
                kept += group
            group = None
    assert group is None, f"unclosed [ in {line!r}"
    return kept


COMMAND_LINES = [
    line for line in command_block(README.read_text()) if line.startswith("callcentre ")
]
LINE_IDS = [line.partition("#")[0].strip() for line in COMMAND_LINES]


def as_run(tokens: list[str]) -> list[str]:
    """NAME is a placeholder; the README's AMI port 5038 may be taken on this machine."""
    substitutes = {"NAME": "alice", "5038": str(free_port())}
    return [substitutes.get(token, token) for token in tokens]


def test_optional_parts_are_dropped_or_kept_and_comments_cut() -> None:
    line = 'callcentre create-user NAME --role a [--role ...] [--name "Full Name"]  # note [x]'
    assert command_tokens(line, optional=False) == ["create-user", "NAME", "--role", "a"]
    assert command_tokens(line, optional=True) == [
        "create-user",
        "NAME",
        "--role",
        "a",
        "--name",
        "Full Name",
    ]


def test_the_readme_shows_every_sub_command() -> None:
    [sub] = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    shown = {command_tokens(line, optional=False)[0] for line in COMMAND_LINES}
    assert shown == set(sub.choices)


@pytest.mark.parametrize("line", COMMAND_LINES, ids=LINE_IDS)
def test_the_readme_command_line_parses_with_its_options(line: str) -> None:
    tokens = as_run(command_tokens(line, optional=True))
    try:
        build_parser().parse_args(tokens)
    except SystemExit as exc:
        pytest.fail(f"README line {line!r} is rejected by the CLI (exit {exc.code})")


def cli_env(tmp_path: Path, port: int) -> dict[str, str]:
    return {
        **env_for(f"sqlite+aiosqlite:///{tmp_path / 'callcentre.db'}", tmp_path / "data"),
        "CALLCENTRE_NEW_PASSWORD": "a long password",
        "CALLCENTRE_PORT": str(port),
    }


def test_the_readme_one_shot_commands_exit_0(tmp_path: Path) -> None:
    commands = [as_run(command_tokens(line, optional=False)) for line in COMMAND_LINES]
    short = [tokens for tokens in commands if tokens[0] not in LONG_RUNNING]
    # The others need the schema: migrate first, the rest in the README's order.
    short.sort(key=lambda tokens: tokens[0] != "migrate")
    assert short and short[0] == ["migrate"], short
    env = cli_env(tmp_path, free_port())
    for tokens in short:
        done = callcentre(*tokens, env=env)
        assert done.returncode == 0, f"{shlex.join(tokens)} exited {done.returncode}:\n" + (
            done.stdout + done.stderr
        )


@dataclass
class Started:
    tokens: list[str]
    process: subprocess.Popen
    is_up: Callable[[], bool]
    output: Path

    def printed(self) -> str:
        return f"{shlex.join(self.tokens)}:\n{self.output.read_text()}"


def _healthz_ok(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def _ami_banner(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as connection:
            banner = connection.makefile("rb").readline()
    except OSError:
        return False
    return banner.startswith(b"Asterisk Call Manager/")


def _start(tokens: list[str], folder: Path) -> Started:
    folder.mkdir()
    port = free_port()
    if tokens[0] == "simulator":
        ami_port = int(tokens[tokens.index("--port") + 1]) if "--port" in tokens else 5038
        is_up = partial(_ami_banner, ami_port)
    else:
        is_up = partial(_healthz_ok, port)
    env = cli_env(folder, port)
    if tokens[0] == "serve":  # without [--migrate] the service expects a migrated database
        migrated = callcentre("migrate", env=env)
        assert migrated.returncode == 0, migrated.stderr
    output = folder / "output"
    with output.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "web.cli", *tokens],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
        )
    return Started(tokens, process, is_up, output)


def test_the_readme_services_start(tmp_path: Path) -> None:
    commands = [as_run(command_tokens(line, optional=False)) for line in COMMAND_LINES]
    long_running = [tokens for tokens in commands if tokens[0] in LONG_RUNNING]
    assert {tokens[0] for tokens in long_running} == LONG_RUNNING
    # Side by side: each start-up is mostly Python importing, and there are two cores.
    started: list[Started] = []
    try:
        for n, tokens in enumerate(long_running):
            started.append(_start(tokens, tmp_path / str(n)))
        waiting = list(started)
        deadline = time.monotonic() + READY_SECONDS
        while waiting and time.monotonic() < deadline:
            for one in list(waiting):
                if one.process.poll() is not None:
                    pytest.fail(f"exited with {one.process.returncode}: {one.printed()}")
                if one.is_up():
                    waiting.remove(one)
            time.sleep(0.1)
        assert not waiting, "not up in time: " + "\n".join(one.printed() for one in waiting)
        time.sleep(1.0)  # a service that dies right after answering is not up
        for one in started:
            assert one.process.poll() is None, f"exited after start-up: {one.printed()}"
    finally:
        for one in started:
            one.process.terminate()
        for one in started:
            try:
                one.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                one.process.kill()
                one.process.wait()
