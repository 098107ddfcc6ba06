"""A real PostgreSQL server for tests: ``initdb`` into a temp dir, ``pg_ctl start`` on a free port.

Like ``tests/mosquitto_helpers.py`` for the broker: the server is the Debian package's
(``postgresql``, binaries under ``/usr/lib/postgresql/<version>/bin``, not on ``PATH``), its data
directory and unix socket live in a temp dir of its own, it listens on 127.0.0.1 on a free port
and is stopped (and the dir removed) by ``stop``. ``initdb`` refuses to run as root, so as root
the server runs as the ``postgres`` user the package creates (``nobody`` when there is none),
through ``subprocess``'s ``user=``: nothing else (no ``su``, ``runuser`` or sudo) is needed.

Authentication: ``trust`` for every role from 127.0.0.1, except the role ``PASSWORD_ROLE``,
which must give its password (scram-sha-256), so a test can check that the store's password
reaches the server.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.mosquitto_helpers import free_port

SUPERUSER = "hotline"
PASSWORD_ROLE = "hotline_pw"  # also the name of its database
PASSWORD = "pw-from-env"


def postgres_bin() -> Path:
    """The directory of ``initdb``/``pg_ctl``: ``$HOTLINE_PG_BIN``, else the newest Debian install."""
    if env := os.environ.get("HOTLINE_PG_BIN"):
        return Path(env)
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("pg_ctl")
    if on_path:
        return Path(on_path).parent
    raise RuntimeError("PostgreSQL not found: install the Debian package postgresql (make test does) "
                       "or set HOTLINE_PG_BIN to the directory holding initdb and pg_ctl")


def _run_as() -> str | None:
    """The user the server runs as: ourselves, or (as root, which initdb refuses) postgres/nobody."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise RuntimeError("running as root and no 'postgres' or 'nobody' user to run PostgreSQL as")


class Postgres:
    """One throw-away cluster: ``start()``, then ``url(dbname)``; ``stop()`` removes everything."""

    def __init__(self, *, fsync: bool = False) -> None:
        self.fsync = fsync  # off for tests (nothing to keep); on for benchmarks of commits
        self.bin = postgres_bin()
        self.user = _run_as()
        self.port = free_port()
        # as another user, in /tmp: that user must be able to reach the dir ($TMPDIR may be private)
        self.root = Path(tempfile.mkdtemp(prefix="hotline-pg-", dir="/tmp" if self.user else None))
        self.data = self.root / "data"
        self.sockets = self.root / "sock"
        self.log = self.root / "server.log"
        self._started = False

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8", "TZ": "UTC",
               "HOME": str(self.root)}
        who: dict[str, object] = {}
        if self.user is not None:
            info = pwd.getpwnam(self.user)
            who = {"user": info.pw_uid, "group": info.pw_gid, "extra_groups": []}
        return subprocess.run([str(self.bin / args[0]), *args[1:]], env=env, capture_output=True, text=True,
                              timeout=120, cwd=self.root, **who)  # type: ignore[call-overload]

    def start(self) -> None:
        self.sockets.mkdir()
        if self.user is not None:
            info = pwd.getpwnam(self.user)
            for p in (self.root, self.sockets):
                os.chown(p, info.pw_uid, info.pw_gid)
        done = self._run("initdb", "-D", str(self.data), "-U", SUPERUSER, "-E", "UTF8", "--locale=C.UTF-8",
                         "--auth=trust", "--no-sync")
        if done.returncode:
            raise RuntimeError(f"initdb failed: {done.stderr.strip() or done.stdout.strip()}")
        with (self.data / "pg_hba.conf").open("w") as f:
            f.write(f"local all all trust\nhost all {PASSWORD_ROLE} 127.0.0.1/32 scram-sha-256\n"
                    "host all all 127.0.0.1/32 trust\n")
        opts = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.sockets} -c fsync={'on' if self.fsync else 'off'} "
                f"-c full_page_writes={'on' if self.fsync else 'off'} -c max_connections=60")
        done = self._run("pg_ctl", "start", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "-o", opts)
        self._started = True
        if done.returncode:
            log = self.log.read_text(errors="replace") if self.log.exists() else ""
            self.stop()
            raise RuntimeError(f"pg_ctl start failed: {done.stderr.strip()} {log[-2000:]}")
        try:
            self.psql(f"CREATE ROLE {PASSWORD_ROLE} LOGIN PASSWORD '{PASSWORD}'")
            self.psql(f"CREATE DATABASE {PASSWORD_ROLE} OWNER {PASSWORD_ROLE}")
        except BaseException:
            self.stop()
            raise

    def psql(self, sql: str, db: str = "postgres") -> str:
        done = self._run("psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", str(self.sockets), "-p", str(self.port),
                         "-U", SUPERUSER, "-d", db, "-At", "-c", sql)
        if done.returncode:
            raise RuntimeError(f"psql failed: {done.stderr.strip()}")
        return done.stdout

    def execute(self, sql: str) -> None:
        """Run ``sql`` as the superuser (autocommit), e.g. to make or drop a schema."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute("SET lock_timeout = '10s'")
            conn.execute(sql)

    def url(self, db: str = "postgres", *, user: str = SUPERUSER, schema: str | None = None) -> str:
        url = f"postgresql://{user}@127.0.0.1:{self.port}/{db}"
        return url + (f"?options=-csearch_path%3D{schema}" if schema else "")

    def stop(self) -> None:
        if self._started:
            self._run("pg_ctl", "stop", "-D", str(self.data), "-m", "immediate", "-w", "-t", "30")
            self._started = False
        shutil.rmtree(self.root, ignore_errors=True)
