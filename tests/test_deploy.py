"""The shipped systemd unit and Dockerfile (deploy/).

The unit is checked by ``systemd-analyze verify`` (Debian package ``systemd``) and by a parser
here for what verify lets through: a comment after a value is taken as part of the value
(``TimeoutStopSec=60  # ...`` is ignored with a warning, ``WorkingDirectory=/srv  # ...`` names a
directory that does not exist). Docker cannot run on these machines, so the Dockerfile is not
built; what it installs is: the files it copies are built into a wheel here and the wheel must
hold everything ``hotline serve`` loads.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from engine.config import Config

ROOT = Path(__file__).resolve().parents[1]
UNIT = ROOT / "deploy" / "hotline.service"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
HOTLINE = Path(sys.executable).with_name("hotline")


def parse_unit(text: str) -> tuple[dict[str, dict[str, list[str]]], list[str]]:
    """Sections -> key -> values (a key may repeat), and the lines systemd would misread."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    problems: list[str] = []
    for n, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped[0] in "#;":
            continue
        if stripped.startswith("[") and stripped.endswith("]"):
            current = sections.setdefault(stripped[1:-1], {})
            continue
        key, sep, value = stripped.partition("=")
        if not sep or current is None:
            problems.append(f"line {n}: not key=value inside a section: {line!r}")
            continue
        if re.search(r"\s[#;]", value):
            problems.append(f"line {n}: comment after a value (systemd keeps it in the value): {line!r}")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections, problems


def test_the_unit_parses_with_no_inline_comments_and_has_what_serve_needs() -> None:
    sections, problems = parse_unit(UNIT.read_text(encoding="utf-8"))
    assert problems == []
    service = {k: v[-1] for k, v in sections["Service"].items()}
    assert service["User"] and service["User"] != "root" and service["Group"]
    assert service["EnvironmentFile"].startswith("/etc/")  # secrets outside the code tree
    exec_start = shlex.split(service["ExecStart"])
    assert exec_start[0].endswith("/bin/hotline") and exec_start[1] == "serve"
    assert service["KillSignal"] == "SIGTERM" and int(service["TimeoutStopSec"]) >= 30  # graceful stop
    assert service["Restart"] == "on-failure"
    for key, wanted in (("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"), ("PrivateTmp", "yes"),
                        ("ProtectHome", "yes")):
        assert service[key] == wanted, key
    # the store ([store] path = var/...) is writable under ProtectSystem=strict: var/ of the working directory
    assert service["ReadWritePaths"] == service["WorkingDirectory"] + "/var"
    assert Config().store.path.startswith("var/") and Config().store.audio_dir.startswith("var/")
    assert "MemoryDenyWriteExecute" not in service  # Numba writes machine code at start
    assert sections["Install"]["WantedBy"] == ["multi-user.target"]


def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze not found: install the Debian package systemd (make test does)"
    # verify checks that ExecStart's program exists: point it at this checkout's hotline
    text = UNIT.read_text(encoding="utf-8")
    program = shlex.split(parse_unit(text)[0]["Service"]["ExecStart"][-1])[0]
    unit = tmp_path / "hotline.service"
    unit.write_text(text.replace(program, str(HOTLINE)), encoding="utf-8")
    done = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr.strip() == "", done.stderr


def _dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) with continuation lines joined."""
    out: list[tuple[str, str]] = []
    pending = ""
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending += line.rstrip("\\").strip() + " "
        if not line.rstrip().endswith("\\"):
            word, _, rest = pending.strip().partition(" ")
            out.append((word.upper(), rest))
            pending = ""
    return out


def test_the_dockerfile_runs_as_a_user_exposes_the_ports_and_checks_health() -> None:
    steps = _dockerfile()
    kinds = [k for k, _ in steps]
    assert steps[0] == ("FROM", "python:3.11-slim")
    users = [a for k, a in steps if k == "USER"]
    assert users and users[-1] not in ("root", "0") and kinds.index("USER") < kinds.index("CMD")
    exposed = {int(p) for k, a in steps if k == "EXPOSE" for p in a.split()}
    cfg = Config()
    assert exposed == {cfg.agi.port, cfg.audiosocket.port, cfg.web.port}
    (health,) = [a for k, a in steps if k == "HEALTHCHECK"]
    assert f"127.0.0.1:{cfg.web.port}/healthz" in health
    assert [a for k, a in steps if k == "STOPSIGNAL"] == ["SIGTERM"]
    assert [a for k, a in steps if k == "CMD"][-1].startswith('["hotline", "serve"')


def test_what_the_dockerfile_copies_installs_everything_serve_loads(tmp_path: Path) -> None:
    copies = [a.split() for k, a in _dockerfile() if k == "COPY"]
    src = tmp_path / "src"
    src.mkdir()
    for *sources, dest in copies:
        for name in sources:
            assert (ROOT / name).exists(), f"COPY {name}: not in the repository"
            target = src / (name if dest.endswith("/") or dest == "./" else dest)
            if (ROOT / name).is_dir():
                shutil.copytree(ROOT / name, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                shutil.copy(ROOT / name, target)
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(tmp_path / "dist"), str(src)], capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    (wheel,) = (tmp_path / "dist").glob("hotline-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("engine/cli.py", "engine/commands/serve.py", "engine/web/static/index.html",
                   "ivr_flows/flows/hotline.yaml", "ivr_flows/prompts/texts.yaml", "asr/pipeline.py",
                   "queueing/monitor.py", "agents_adapter/model.py"):
        assert needed in names, needed
    assert any(n.startswith("ivr_flows/prompts/zh/hotline/") and n.endswith(".wav") for n in names)
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "hotline = engine.cli:entry" in zipfile.ZipFile(wheel).read(entry).decode()
