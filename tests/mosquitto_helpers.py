"""A real mosquitto broker for tests: own config in a temp dir, a free port, start/stop/restart."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import aiomqtt

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mosquitto:
    """``mosquitto -c <conf>`` bound to 127.0.0.1 on ``port``.

    Without ``persistence`` a restart forgets retained messages and sessions; with it, the
    state is saved in ``workdir`` at shutdown and read back at start.
    """

    def __init__(self, workdir: Path, port: int | None = None, *, persistence: bool = False) -> None:
        self.workdir = Path(workdir)
        self.persistence = persistence
        self.port = port or free_port()
        self.conf = self.workdir / "mosquitto.conf"
        self.log = self.workdir / "mosquitto.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> None:
        persist = f"persistence true\npersistence_location {self.workdir}/\n" if self.persistence else "persistence false\n"
        # as root, mosquitto would switch to user "mosquitto", who cannot write into our temp dir
        user = "user root\n" if os.geteuid() == 0 else ""
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\n{user}{persist}log_dest file {self.log}\n"
        )
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited with {self.proc.returncode}: {self.log.read_text() if self.log.exists() else ''}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"mosquitto did not listen on {self.port} within {timeout} s")

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


class Collector:
    """Subscribes to the whole tree and keeps what arrives."""

    def __init__(self, port: int, topic: str = "hotline/#", *, client_id: str | None = None, clean: bool = True):
        self.port = port
        self.topic = topic
        self.client_id = client_id
        self.clean = clean
        self.messages: list[aiomqtt.Message] = []
        self._task: asyncio.Task | None = None
        self._ready = asyncio.Event()

    async def __aenter__(self):
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self._ready.wait(), 5)
        return self

    async def __aexit__(self, *exc):
        self._task.cancel()
        try:
            await self._task
        except (asyncio.CancelledError, aiomqtt.MqttError):
            pass

    async def _run(self):
        async with aiomqtt.Client("127.0.0.1", self.port, identifier=self.client_id, clean_session=self.clean) as c:
            await c.subscribe(self.topic, qos=1)
            self._ready.set()
            async for m in c.messages:
                self.messages.append(m)

    async def wait_for(self, n: int, timeout: float = 5.0) -> list[aiomqtt.Message]:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.messages) < n and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)
        return self.messages

    def payloads(self) -> list[dict]:
        return [json.loads(m.payload) for m in self.messages]
