"""Where the patients run: a local Dask cluster sized to the machine, an existing cluster, or this process.

Local cluster: one single-threaded worker process per core, or one per GPU when CuPy can use a
device (each worker sees only its own device through ``CUDA_VISIBLE_DEVICES``); ``workers``
overrides the count. The cores are shared out among the workers for the threaded parts of a
patient (elastix, Numba). A patient whose task kills its worker process is recorded as failed,
not retried. ``workers=0`` runs the patients one after another in this process, without Dask.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from types import ModuleType
from typing import Any

from ..distribution import install_hint
from ..errors import AccumulateError, BackendUnavailable

INSTALL_HINT = install_hint("cohort")
#: Threading knobs of the libraries a patient uses; each worker gets its share of the cores.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS")


def require(module: str) -> ModuleType:
    """Import an optional dependency of ``accumulate cohort``, or say how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise BackendUnavailable(f"accumulate cohort needs the package '{module.split('.')[0]}' ({exc}); "
                                 f"install it with: {INSTALL_HINT}") from None  # fmt: skip


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def visible_gpus(backend: str | None) -> list[str]:
    """CUDA device ids the workers can be pinned to: none unless ``backend`` resolves to CuPy."""
    from ..backends import resolve

    if resolve(backend or "auto") != "cupy":
        return []
    import cupy

    count = cupy.cuda.runtime.getDeviceCount()
    listed = [d.strip() for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
    return (listed or [str(i) for i in range(count)])[:count]


def worker_environments(workers: int | None, backend: str | None) -> list[dict[str, str]]:
    """The environment of each local worker process: its share of the cores and, with GPUs, its device."""
    gpus = visible_gpus(backend)
    count = workers or len(gpus) or usable_cores()
    threads = str(max(1, usable_cores() // count))
    environments = []
    for i in range(count):
        env = dict.fromkeys(THREAD_VARIABLES, threads)
        if gpus:
            env["CUDA_VISIBLE_DEVICES"] = gpus[i % len(gpus)]
        environments.append(env)
    return environments


Results = Iterator[tuple[Any, Any]]


class WorkerDied(AccumulateError, RuntimeError):
    """The worker process running a patient died (the patient is recorded as failed)."""


class InProcess:
    """Runs the tasks one after another in this process (``--workers 0``)."""

    description = "in this process, one after another"
    dashboard: str | None = None

    def __enter__(self) -> InProcess:
        return self

    def __exit__(self, *exc_info) -> None:
        return None

    def run(self, function: Callable[[Any], Any], tasks: Iterable[Any]) -> Results:
        """``(task, result or exception)`` pairs in completion order."""
        for task in tasks:
            try:
                yield task, function(task)
            except Exception as exc:
                yield task, exc


class DaskCluster:
    """A local cluster (``workers`` processes, default sized to the machine) or the cluster at ``scheduler``."""

    def __init__(self, workers: int | None = None, scheduler: str | None = None, backend: str | None = None) -> None:
        self.workers, self.scheduler, self.backend = workers, scheduler, backend
        self.client = self.cluster = None
        self.description, self.dashboard = "", None

    def __enter__(self) -> DaskCluster:
        distributed = require("distributed")
        try:
            if self.scheduler:
                self.client = self._connect(distributed)
            else:
                self.cluster = self._local(distributed)
                self.client = distributed.Client(self.cluster)
            self.dashboard = self._dashboard()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _connect(self, distributed: ModuleType):
        try:
            client = distributed.Client(self.scheduler, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise BackendUnavailable(
                f"cannot reach the Dask scheduler at {self.scheduler} ({exc}); check the address, "
                f"or start one with `dask scheduler` and workers with `dask worker ADDRESS` on machines where `{INSTALL_HINT}` "
                "installed this version"
            ) from None
        count = len(client.nthreads())
        self.description = f"on the Dask cluster at {self.scheduler} ({count} workers now)"
        return client

    def _local(self, distributed: ModuleType):
        import dask

        environments = worker_environments(self.workers, self.backend)
        memory = distributed.system.MEMORY_LIMIT // len(environments)
        workers = {
            f"worker-{i}": {"cls": distributed.Nanny, "options": {"nthreads": 1, "memory_limit": memory, "env": env,
                                                                 "host": "127.0.0.1", "silence_logs": logging.ERROR}}
            for i, env in enumerate(environments)
        }  # fmt: skip
        scheduler = {"cls": distributed.Scheduler, "options": {"host": "127.0.0.1", "dashboard_address": "127.0.0.1:0"}}
        with dask.config.set({"distributed.scheduler.allowed-failures": 0}):  # a patient that kills its worker is not retried
            cluster = distributed.SpecCluster(workers=workers, scheduler=scheduler, silence_logs=logging.ERROR,
                                              name="accumulate-cohort")  # fmt: skip
        gpus = [env["CUDA_VISIBLE_DEVICES"] for env in environments if "CUDA_VISIBLE_DEVICES" in env]
        per_worker = f"GPU {', '.join(gpus)} one each" if gpus else f"{environments[0]['OMP_NUM_THREADS']} core(s) each"
        self.description = f"on a local Dask cluster of {len(environments)} worker process(es), {per_worker}"
        return cluster

    def _dashboard(self) -> str | None:
        try:
            return self.client.dashboard_link
        except (KeyError, AttributeError):  # no dashboard (bokeh missing)
            return None

    def __exit__(self, *exc_info) -> None:
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()

    def _slots(self) -> int:
        """Tasks the cluster can run at once now (its worker threads; at least 1)."""
        return max(1, sum(self.client.nthreads().values()))

    def run(self, function: Callable[[Any], Any], tasks: Iterable[Any]) -> Results:
        """``(task, result or exception)`` pairs in completion order; a killed worker is the task's exception.

        No more tasks are submitted than the cluster has threads, so that a worker that dies
        takes no queued patient with it and a new worker gets the next patient.
        """
        distributed = require("distributed")
        pending, running = list(tasks)[::-1], {}
        completed = distributed.as_completed()

        def top_up() -> None:
            slots = self._slots() if pending else 0
            while pending and (not running or len(running) < slots):
                task = pending.pop()
                future = self.client.submit(function, task, pure=False, retries=0)
                running[future] = task
                completed.add(future)

        top_up()
        for future in completed:
            task = running.pop(future)
            try:
                result = future.result()
            except distributed.KilledWorker:
                result = WorkerDied("the worker process running it died (a crash, or out of memory); its log says why")
            except Exception as exc:
                result = exc
            future.release()
            top_up()
            yield task, result
