"""The `callcentre` command, run as a user would run it."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys

import aiohttp

from bench.servers import free_port


def callcentre(
    *args: str, env: dict[str, str] | None = None, **kwargs
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "web.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        **kwargs,
    )


def env_for(database_url: str, tmp_path) -> dict[str, str]:
    return {
        "CALLCENTRE_DATABASE_URL": database_url,
        "CALLCENTRE_DATA_DIR": str(tmp_path),
        "CALLCENTRE_ARGON2_MEMORY_KIB": "256",
        "CALLCENTRE_ARGON2_TIME_COST": "1",
    }


def test_migrate_create_user_and_load_demo_data(database_url, tmp_path):
    env = env_for(database_url, tmp_path)
    migrated = callcentre("migrate", env=env)
    assert migrated.returncode == 0, migrated.stderr
    created = callcentre(
        "create-user",
        "Root",
        "--name",
        "Root User",
        "--role",
        "admin",
        env={**env, "CALLCENTRE_NEW_PASSWORD": "a long password"},
    )
    assert created.returncode == 0, created.stderr
    assert "created user root" in created.stdout
    again = callcentre(
        "create-user",
        "root",
        "--role",
        "admin",
        env={**env, "CALLCENTRE_NEW_PASSWORD": "a long password"},
    )
    assert again.returncode == 1 and "taken" in again.stderr
    bad = callcentre(
        "create-user",
        "x y",
        "--role",
        "admin",
        env={**env, "CALLCENTRE_NEW_PASSWORD": "a long password"},
    )
    assert bad.returncode == 2 and "username" in bad.stderr
    demo = callcentre("load-demo-data", env=env)
    assert demo.returncode == 0, demo.stderr
    assert re.search(r"agent1\s+agent1-demo-pass\s+created", demo.stdout)
    assert "created" not in callcentre("load-demo-data", env=env).stdout
    # At a size of one's own: refused where customers exist, nothing written.
    refused = callcentre("load-demo-data", "--customers", "20", env=env)
    assert refused.returncode == 1 and "customers already" in refused.stderr


def test_load_demo_data_at_a_size_fills_an_empty_database(database_url, tmp_path):
    env = env_for(database_url, tmp_path)
    assert callcentre("migrate", env=env).returncode == 0
    loaded = callcentre("load-demo-data", "--customers", "40", "--seed", "3", env=env)
    assert loaded.returncode == 0, loaded.stderr
    assert "40 customers" in loaded.stdout + loaded.stderr


async def test_the_demo_starts_on_embedded_defaults_and_its_printed_users_log_in(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLCENTRE_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "web.cli",
        "demo",
        "--port",
        str(port),
        "--data-dir",
        str(tmp_path / "demo"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        printed = ""
        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                try:
                    async with http.get(f"http://127.0.0.1:{port}/readyz") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.1)
            else:
                raise AssertionError("the demo did not become ready")
            printed = (await asyncio.wait_for(process.stdout.read(2000), 5)).decode()
            match = re.search(r"admin\s+(\S+)\s+admin", printed)
            assert match, printed
            async with http.post(
                f"http://127.0.0.1:{port}/api/v1/auth/login",
                json={"username": "admin", "password": match.group(1)},
            ) as r:
                assert r.status == 200
                assert (await r.json())["user"]["roles"] == ["admin"]
    finally:
        process.terminate()
        await process.wait()


def test_serve_on_a_database_that_was_never_migrated_says_what_to_run(tmp_path):
    env = env_for(f"sqlite+aiosqlite:///{tmp_path}/fresh.db", tmp_path)
    served = callcentre(
        "serve", env={**env, "CALLCENTRE_PORT": str(free_port()), "CALLCENTRE_PBX": "none"}
    )
    assert served.returncode == 2
    assert "callcentre migrate" in served.stderr and "Traceback" not in served.stderr
