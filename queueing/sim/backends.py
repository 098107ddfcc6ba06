"""Where sweep tasks run: in this process, a local process pool, or a Dask cluster.

Why three: in-process is the reference (no start-up, nothing to install); a process pool uses
this machine's cores with the standard library alone; Dask (``distributed``) spreads the tasks
over the machines of a cluster (``DaskCluster(scheduler="tcp://host:8786")``) or runs a local
one. Every backend gives results back in the order of the tasks, so a sweep's figures do not
depend on which one ran it. Ray is not offered: a heavy dependency for what Dask already does.

Each worker process loads the compiled kernel once, on its first task, from Numba's on-disk
cache (``cache=True``; compiled there if the cache is cold); the sweep reports how long that took
per worker.
"""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol

from queueing.erlang import CapacityError

Progress = Callable[[int, int], None] | None


class BackendError(CapacityError):
    """A backend could not run the tasks: not installed, scheduler unreachable, a worker failed."""


class Backend(Protocol):
    name: str
    workers: int
    remote: bool  # workers on other machines: each task is checked against a worker's memory limit

    def worker_memory(self) -> int | None:
        """Bytes one worker may use (None: unknown, or the workers share this machine)."""

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any], progress: Progress = None) -> list[Any]:
        """``[fn(x) for x in items]``, in that order; ``progress(done, total)`` as tasks finish."""


class InProcess:
    """One task after another in this process: the reference, and the default."""

    name = "in-process"
    workers = 1
    remote = False

    def __enter__(self) -> InProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def worker_memory(self) -> int | None:
        return None

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any], progress: Progress = None) -> list[Any]:
        out = []
        for x in items:
            out.append(fn(x))
            if progress is not None:
                progress(len(out), len(items))
        return out


def _collect(futures: list[Any], completed: Callable[[list[Any]], Any], progress: Progress) -> None:
    for done, _ in enumerate(completed(futures), 1):
        if progress is not None:
            progress(done, len(futures))


class ProcessPool:
    """``workers`` processes on this machine (started with ``spawn``: no state forked from the caller)."""

    name = "process pool"
    remote = False

    def __init__(self, workers: int = 2) -> None:
        self.workers = int(workers)
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> ProcessPool:
        self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"))
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def worker_memory(self) -> int | None:
        return None

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any], progress: Progress = None) -> list[Any]:
        if self._pool is None:
            raise BackendError("the process pool is not started: use it in a 'with' block")
        try:
            futures = [self._pool.submit(fn, x) for x in items]
            _collect(futures, as_completed, progress)
            return [f.result() for f in futures]
        except BrokenProcessPool as exc:  # a worker killed (out of memory, a signal)
            raise BackendError(f"a sweep task's process died: {exc}") from None


class DaskCluster:
    """Tasks on a Dask cluster: the scheduler at ``scheduler`` (``tcp://host:8786``; its workers
    need this package installed), or a local cluster of ``workers`` single-threaded processes."""

    name = "dask"

    def __init__(self, workers: int = 2, scheduler: str | None = None, timeout: float = 10.0) -> None:
        self.workers = int(workers)
        self.scheduler = scheduler
        self.remote = scheduler is not None
        self.timeout = timeout
        self._cluster: Any = None
        self._client: Any = None

    def __enter__(self) -> DaskCluster:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise BackendError("the Dask backend needs the 'distributed' package: pip install 'hotline[dask]'") from None
        # distributed logs each connection at INFO: follow this program's level instead
        logging.getLogger("distributed").setLevel(max(logging.getLogger().getEffectiveLevel(), logging.INFO))
        if self.scheduler is None:  # the scheduler's HTTP server on any free port, not 8787
            self._cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True,
                                         dashboard_address=":0", silence_logs=logging.ERROR)
            self._client = Client(self._cluster)
        else:
            try:
                self._client = Client(self.scheduler, timeout=self.timeout)
            except (OSError, TimeoutError, ValueError) as exc:
                raise BackendError(f"cannot reach the Dask scheduler at {self.scheduler}: {exc}") from None
            self.workers = len(self._info())
            if self.workers == 0:
                self.__exit__()
                raise BackendError(f"the Dask scheduler at {self.scheduler} has no workers")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    @property
    def address(self) -> str:
        """The scheduler's address (a local cluster's too: other clients may connect to it)."""
        if self._client is None:
            raise BackendError("the Dask client is not started: use it in a 'with' block")
        return self._client.scheduler.address

    def _info(self) -> dict[str, dict[str, Any]]:
        return self._client.scheduler_info(n_workers=-1)["workers"]

    def worker_memory(self) -> int | None:
        limits = [w.get("memory_limit") or 0 for w in self._info().values()]
        return min(limits) if limits and min(limits) > 0 else None

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any], progress: Progress = None) -> list[Any]:
        if self._client is None:
            raise BackendError("the Dask client is not started: use it in a 'with' block")
        from distributed import as_completed as dask_completed

        futures = self._client.map(fn, items, pure=False)
        try:
            _collect(futures, dask_completed, progress)
            return self._client.gather(futures)
        except Exception as exc:  # a worker lost, or the package missing on a worker: one line, not a traceback
            raise BackendError(f"a sweep task failed on the Dask cluster: {type(exc).__name__}: {exc}") from None
