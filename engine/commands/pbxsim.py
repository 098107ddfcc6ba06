"""``hotline pbxsim``: the PBX simulator on its own, so any AMI client can connect to it as to Asterisk."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import Any

from engine.errors import UsageError

HELP = "run the PBX simulator (AMI server, queue model) on loopback until Ctrl-C"

DEFAULT_SECRET = "hotlinepw"


def host_port(text: str) -> tuple[str, int]:
    """``HOST:PORT`` -> (host, port), with a clear error."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host, int(port)


def _arrival(text: str) -> tuple[str, float]:
    queue, sep, rate = text.partition(":")
    try:
        value = float(rate)
    except ValueError:
        value = -1.0
    if not sep or not queue or not 0 < value < float("inf"):  # nan and inf fail too
        raise argparse.ArgumentTypeError(f"expected QUEUE:CALLS_PER_MINUTE, got {text!r}")
    return queue, value


def _codec(text: str) -> str:
    from engine.asterisk.audiosocket_codec import CODEC_RATES

    if text not in CODEC_RATES:
        raise argparse.ArgumentTypeError(f"expected a signed linear codec ({', '.join(CODEC_RATES)}), got {text!r}")
    return text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from engine.commands._common import number
    from engine.config import LISTEN_PORT

    parser.add_argument("--ami-host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    parser.add_argument("--ami-port", type=number(LISTEN_PORT), default=0, help="AMI port (default 0: one from the OS, printed)")
    parser.add_argument("--ami-user", default="hotline", help="AMI username clients must log in with")
    parser.add_argument("--ami-secret", help=f"AMI secret (default: $HOTLINE_AMI_SECRET, else {DEFAULT_SECRET!r})")
    parser.add_argument("--queues", metavar="FILE", help="queues TOML (default: engine/pbxsim/queues.toml)")
    parser.add_argument("--speed", type=number(float, gt=0), default=1.0, help="simulated seconds per real second (default 1)")
    parser.add_argument("--arrivals", type=_arrival, action="append", metavar="QUEUE:PER_MIN",
                        help="generate Poisson callers into QUEUE at PER_MIN calls per minute (repeatable)")
    parser.add_argument("--duration", type=number(float, gt=0), help="stop after this many real seconds (default: until Ctrl-C)")
    parser.add_argument("--agi-target", type=host_port, metavar="HOST:PORT",
                        help="engine FastAGI server the simulated calls open sessions to")
    parser.add_argument("--agi-script", default="hotline",
                        help="flow (script) name the simulated calls ask for: agi://HOST:PORT/NAME (default hotline)")
    parser.add_argument("--agi-dtmf", default="", metavar="D1,D2,...",
                        help="digits each simulated caller presses, one entry per prompt that listens")
    parser.add_argument("--audiosocket-target", type=host_port, metavar="HOST:PORT",
                        help="engine AudioSocket server that answered calls stream caller audio to")
    parser.add_argument("--audio", metavar="FILE.wav", help="caller audio: streamed when the IVR flow hands the call to AudioSocket (with --agi-target), else to --audiosocket-target per answered call")
    parser.add_argument("--audiosocket-codec", type=_codec, metavar="CODEC",
                        help="codec of the audio streamed per answered call, as chan_audiosocket's c() option: "
                             "slin (8 kHz, the default), slin16 (16 kHz), ... slin192; EXEC AudioSocket from "
                             "the IVR is always slin, as Asterisk's AudioSocket() application")


async def serve(args: argparse.Namespace, ready: Callable[[Any], None] | None = None) -> int:
    """Run until cancelled or ``--duration`` passes; ``ready(server)`` is called once listening."""
    import asyncio
    import contextlib

    from engine.pbxsim.ami_server import AmiServer, generate_callers
    from engine.pbxsim.clock import ScaledClock
    from engine.pbxsim.queue_model import load_queues

    config = load_queues(args.queues)
    names = [q.name for q in config.queues]
    for queue, _ in args.arrivals or []:
        if queue not in names:
            raise UsageError(f"--arrivals: no queue {queue!r} in {args.queues or 'the default queues'} (have {', '.join(names)})")
    if args.audio and not (args.audiosocket_target or args.agi_target):
        raise UsageError("--audio needs --audiosocket-target HOST:PORT (or --agi-target HOST:PORT)")
    if args.audiosocket_target and not args.agi_target and not args.audio:
        raise UsageError("--audiosocket-target needs --audio FILE.wav (the caller audio streamed per answered call)")
    if args.audio and not os.path.isfile(args.audio):
        raise UsageError(f"--audio {args.audio}: no such file")
    if args.audiosocket_codec and not (args.audiosocket_target and not args.agi_target):
        raise UsageError("--audiosocket-codec applies to the audio streamed per answered call "
                         "(--audiosocket-target without --agi-target); the IVR's EXEC AudioSocket is always slin")
    secret = args.ami_secret or os.environ.get("HOTLINE_AMI_SECRET") or DEFAULT_SECRET
    server = AmiServer(config, clock=ScaledClock(speed=args.speed), host=args.ami_host, port=args.ami_port,
                       username=args.ami_user, secret=secret)
    try:
        await server.start()
    except OSError as exc:
        raise UsageError(f"cannot listen on {args.ami_host}:{args.ami_port}: {exc.strerror or exc}") from None
    tasks: list[asyncio.Task[Any]] = []
    route = _ivr_route(server, args) if args.agi_target else None
    for i, (queue, rate) in enumerate(args.arrivals or []):
        tasks.append(asyncio.get_running_loop().create_task(
            generate_callers(server, queue, rate, seed=i + 1, route=route)))
    if args.audiosocket_target and args.audio and not args.agi_target:
        tasks.append(asyncio.get_running_loop().create_task(_stream_answered_calls(server, args)))
    print(f"pbxsim AMI listening on {args.ami_host}:{server.port} (user {args.ami_user})", flush=True)
    print(f"pbxsim queues: {', '.join(f'{q.name} ({len(q.members)} members)' for q in config.queues)}; "
          f"speed x{args.speed:g}", flush=True)
    if args.agi_target:
        print(f"pbxsim FastAGI target: {args.agi_target[0]}:{args.agi_target[1]}", flush=True)
    if args.audiosocket_target:
        codec = f", codec {args.audiosocket_codec}" if args.audiosocket_codec else ""
        print(f"pbxsim AudioSocket target: {args.audiosocket_target[0]}:{args.audiosocket_target[1]}{codec}",
              flush=True)
    if ready is not None:
        ready(server)
    try:
        if args.duration is not None:
            await asyncio.sleep(args.duration)
        else:
            await asyncio.Event().wait()
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await server.stop()
    return 0


def _ivr_route(server: Any, args: argparse.Namespace) -> Callable[[str, str, str], Any]:
    """Each caller first runs the engine's IVR flow over FastAGI (the simulator's AgiClient plays
    Asterisk and the caller); like the dialplan after ``AGI()``, ``HOTLINE_ACTION=queue`` then
    sends the caller into ``HOTLINE_QUEUE`` (or the arrival's queue)."""
    from engine.pbxsim.agi_client import AgiClient, CallerScript
    from engine.privacy import mask_number

    host, port = args.agi_target
    digits = args.agi_dtmf.split(",") if args.agi_dtmf else []

    async def route(queue: str, number: str, name: str) -> str | None:
        caller = CallerScript(dtmf=list(digits), audio_file=args.audio or "")
        client = AgiClient(host, port, args.agi_script, caller=caller, callerid=number, calleridname=name,
                           timeout=300.0)
        result = await client.run()
        action = result.variables.get("HOTLINE_ACTION", "")
        target = None
        if action == "queue" and not result.caller_hung_up:
            wanted = result.variables.get("HOTLINE_QUEUE", "")
            target = wanted if wanted in server.model.queue_names else queue
        print(f"pbxsim IVR call {mask_number(number)}: {len(result.commands)} AGI commands, "
              f"action {action or 'none'}{f', queue {target}' if target else ''}", flush=True)
        return target

    return route


async def _stream_answered_calls(server: Any, args: argparse.Namespace) -> None:
    """On each AgentConnect, stream ``--audio`` to the AudioSocket target as Asterisk would."""
    import asyncio
    import logging
    import uuid

    from engine.asterisk.audiosocket_codec import CODEC_RATES
    from engine.pbxsim.audiosocket_client import AudioSocketClient, read_wav

    log = logging.getLogger("engine.commands.pbxsim")
    audio: tuple[bytes, int] | None = None  # the WAV, read at the first answered call only
    host, port = args.audiosocket_target
    rate = CODEC_RATES[args.audiosocket_codec or "slin"]  # the channel's, whatever the WAV's rate
    answered: asyncio.Queue[str] = asyncio.Queue()
    server.listeners.append(lambda ev: answered.put_nowait(ev.header("Uniqueid") or "")
                            if ev.name == "AgentConnect" else None)

    async def one(uid: str) -> None:
        nonlocal audio
        call_uuid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"pbxsim/{uid}"))
        try:
            if audio is None:
                audio = read_wav(args.audio)
            result = await AudioSocketClient(host, port, call_uuid, pace=1.0, rate=rate).stream(*audio)
            print(f"pbxsim call {uid}: {result.frames_sent} frames sent ({rate / 1000:g} kHz), "
                  f"{len(result.audio_messages())} received", flush=True)
        except Exception as exc:  # the engine being down must not stop the simulator
            log.warning("pbxsim AudioSocket stream for %s failed: %s", uid, exc)

    while True:
        uid = await answered.get()
        asyncio.get_running_loop().create_task(one(uid))


def run(args: argparse.Namespace) -> int:
    import asyncio

    try:
        return asyncio.run(serve(args))
    except KeyboardInterrupt:
        print("pbxsim stopped", flush=True)
        return 0
