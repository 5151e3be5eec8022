"""`--cluster`: the batch on Ray Data (the optional extra `pip install -e '.[cluster]'`).

The files to do are a dataset (path, size, mtime_ns); `map_batches` runs them through an actor
pool whose actors each hold the pipelines (`worker.Worker`, the same code as the local pool);
Ray's Parquet writer writes the rows as parts of this run, and `writer.Output.commit` makes the
one output, as for a local run. Ray is imported here only, never on the local path.

Actors leave CPUs free for Ray's own tasks (the dataset's blocks, the writes): an actor pool
that holds every CPU slot starves them and the job stalls. They do so by asking for a share of a
CPU each rather than by being fewer than the cores: each actor runs one ONNX Runtime thread, and
on a 2-core machine one whole-CPU actor beside one spare CPU would leave half the machine idle.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time

from engine.batch.files import BatchFile
from engine.errors import AlbertLensError

INSTALL_HINT = "pip install -e '.[cluster]'"
ROWS_PER_BLOCK = 64


class RayMissingError(AlbertLensError):
    """`--cluster` without Ray installed."""


def require_ray() -> None:
    try:
        import ray
        import ray.data
    except ImportError:
        import sys

        if getattr(sys, "frozen", False):
            raise RayMissingError(
                "--cluster needs Ray, which the desktop bundle leaves out: install Albert Lens "
                f"with Python and the cluster extra ({INSTALL_HINT} in a checkout); without "
                "--cluster the batch runs on this machine") from None
        raise RayMissingError(
            "--cluster needs Ray, which is not installed here: "
            f"{INSTALL_HINT} (or pip install 'ray[data]==2.60.0'); without --cluster the batch "
            "runs on this machine") from None
    del ray


class Analyzer:
    """A Ray actor: pipelines opened once, then a batch of files (an Arrow table) -> rows."""

    def __init__(self, settings, threads: int = 1):
        from engine.batch.worker import Worker

        self.worker = Worker(settings, threads)

    def __call__(self, batch):
        from engine.batch import rows

        files = [BatchFile(r["path"], int(r["size"]), int(r["mtime_ns"]))
                 for r in batch.to_pylist()]
        return rows.table([self.worker.analyze(f) for f in files])


def spare_cpus(total: int) -> int:
    """CPUs left to Ray's tasks beside the actors: one, and one in 16 on a large cluster."""
    return max(1, total // 16)


def actor_plan(total: int, workers: int | None, files: int,
               gpus: float = 0) -> tuple[int, float, int]:
    """(actors, logical CPUs each, GPUs each). On CPUs: one actor per CPU (or `workers`, at
    most the CPUs), each asking for at most one CPU and together for all but `spare_cpus` of
    the cluster's, so Ray's own tasks keep room. `gpus`: the GPUs the actors can use (0 when
    the run is on the CPU or ONNX Runtime has no GPU provider): one actor per GPU (or
    `workers`, at most the GPUs), each holding one, the CPUs shared the same way."""
    if gpus >= 1:
        actors = min(workers or int(gpus), int(gpus), files)
    else:
        actors = min(workers or total, total, files)
    actors = max(1, actors)
    share = max(0.01, (total - spare_cpus(total)) / actors)
    return actors, math.floor(min(1.0, share) * 100) / 100, 1 if gpus >= 1 else 0


def _runs_on_gpu(settings) -> bool:
    """Would this run's device choice use a GPU with the ONNX Runtime installed here (the
    driver's, which the nodes are taken to share)? Plain onnxruntime has no GPU provider: its
    actors would hold a GPU each and compute on one CPU thread."""
    from engine.runtime.providers import CPU, choose_provider

    return choose_provider(settings.device).provider != CPU


def run_ray(todo: list[BatchFile], settings, output, address: str | None,
            workers: int | None, progress) -> None:
    import ray
    import ray.data

    from engine.batch.local import cores

    if not todo:
        return
    started = time.monotonic()
    quiet = progress.mode != "bar"
    if address:
        ray.init(address=address, logging_level=logging.ERROR, log_to_driver=not quiet)
    else:
        progress.note({"event": "warning", "message": "local Ray listens without authentication"},
                      "albert-lens batch: note: the local Ray listens on this machine's network "
                      "interfaces without authentication; use it on a trusted network "
                      "(docs/batch.md)")
        cpus = (workers + 1) if workers else cores()
        ray.init(num_cpus=cpus, include_dashboard=False, logging_level=logging.ERROR,
                 log_to_driver=not quiet, object_store_memory=256 << 20)
    try:
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = not quiet
        logging.getLogger("ray.data").setLevel(logging.WARNING if not quiet else logging.ERROR)
        total = int(ray.cluster_resources().get("CPU", 1))
        gpus = float(ray.cluster_resources().get("GPU", 0)) if _runs_on_gpu(settings) else 0.0
        actors, actor_cpus, actor_gpus = actor_plan(total, workers, len(todo), gpus)
        progress.note({"event": "cluster", "cpus": total, "gpus": gpus, "actors": actors,
                       "actor_cpus": actor_cpus, "actor_gpus": actor_gpus,
                       "startup_s": round(time.monotonic() - started, 3)},
                      f"albert-lens batch: Ray with {total} CPUs"
                      + (f" and {gpus:g} GPUs" if gpus else "")
                      + f", {actors} actors"
                      + (" of one GPU each" if actor_gpus else "") + " "
                      f"(started in {time.monotonic() - started:.1f} s)")
        blocks = min(len(todo), max(actors * 4, math.ceil(len(todo) / ROWS_PER_BLOCK)))
        files = ray.data.from_items(
            [{"path": f.path, "size": f.size, "mtime_ns": f.mtime_ns} for f in todo],
            override_num_blocks=blocks)
        results = files.map_batches(
            Analyzer, fn_constructor_kwargs={"settings": settings, "threads": 1},
            batch_size=max(1, min(8, math.ceil(len(todo) / blocks))), batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(size=actors), num_cpus=actor_cpus,
            **({"num_gpus": actor_gpus} if actor_gpus else {}))
        run = output.new_run("ray")
        watcher = _PartWatcher(run, progress)
        watcher.start()
        try:
            results.write_parquet(os.fspath(run))
        finally:
            watcher.stop()
    finally:
        ray.shutdown()


class _PartWatcher(threading.Thread):
    """Progress from the part files Ray's writer has finished (read back by their footers)."""

    def __init__(self, run, progress):
        super().__init__(name="albert-lens-batch-progress", daemon=True)
        self.run_dir, self.progress = run, progress
        self.seen: set[str] = set()
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(0.5):
            self.poll()

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=5)
        self.poll()

    def poll(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        for path in sorted(self.run_dir.glob("*.parquet")):
            if path.name in self.seen:
                continue
            try:
                statuses = pq.read_table(path, columns=["status"]).column("status").to_pylist()
            except (pa.ArrowException, OSError):
                continue  # still being written: read next time
            self.seen.add(path.name)
            for status in statuses:
                self.progress.row({"status": status})
