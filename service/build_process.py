"""Reindex jobs run in a build process of their own, started and supervised by the service.

A build holds the whole corpus and its matrices in memory for seconds to minutes. Inside a
gunicorn worker that memory would sit in a serving process, and a worker restart (a deploy,
``max_requests``, the out-of-memory killer) would end the build. So the worker that accepts
``POST /api/v1/admin/reindex`` (or decides a rebuild after a write) only claims the job
(service.store.jobs) and starts ``flask reindex --job ID`` as a new process, in a session of
its own, with the app's configuration in its environment; the request is answered at once.

The build process writes the job's heartbeats, publishes and records the outcome. A thread of
the worker that started it waits for it and records a failure the process could not record
itself (it failed to start, crashed or was killed). When that worker is gone too, the job's
heartbeats stop and the stale-heartbeat rule marks it failed.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import Flask

from service import metrics
from service.config import ENV_PREFIX, PROJECT_ROOT, default_config
from service.store import Store

log = logging.getLogger(__name__)

# Not handed to the build process: it serves nothing.
_NOT_PASSED = frozenset({"ADMIN_TOKEN"})
# Settings of this package that are not among default_config's.
_EXTRA_SETTINGS = ("OVERLAY_GRACE_SECONDS",)


def build_environment(config: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, str]:
    """The environment of a build process: ``environ`` plus the app's settings as ``RELATED_*``
    variables (JSON, as ``create_app`` reads them back) and the contract's ``DATABASE_URL`` and
    ``MODEL_DIR``, so that it builds from the same store, into the same folder, with the same
    parameters as the app that started it, however that app was configured."""
    env = dict(environ)
    for name in (*default_config(str(PROJECT_ROOT / "instance")), *_EXTRA_SETTINGS):
        if name in _NOT_PASSED or name not in config:
            continue
        try:
            env[f"{ENV_PREFIX}_{name}"] = json.dumps(config[name])
        except (TypeError, ValueError):
            log.warning("setting %s cannot be passed to the build process; it uses its default", name)
    env["DATABASE_URL"] = str(config["DATABASE_URL"])
    env["MODEL_DIR"] = str(config["MODEL_DIR"])
    return env


def build_command(job_id: str) -> list[str]:
    """The command line of the build process of job ``job_id``."""
    return [sys.executable, "-m", "flask", "--app", "service:create_app", "reindex", "--job", job_id]


@dataclass
class BuildLauncher:
    """Starts a claimed job's build process and supervises it (see the module's docstring)."""

    store: Store
    config: Mapping[str, Any]

    @classmethod
    def for_app(cls, app: Flask, store: Store) -> BuildLauncher:
        return cls(store=store, config=app.config)

    def __call__(self, job_id: str) -> None:
        try:
            process = subprocess.Popen(
                build_command(job_id),
                cwd=PROJECT_ROOT,
                env=build_environment(self.config, os.environ),
                stdin=subprocess.DEVNULL,  # its output goes where this process's goes
                start_new_session=True,  # no signal for this process's group reaches it
            )
        except OSError as error:
            log.exception("could not start the build process of reindex job %s", job_id)
            self._failed(job_id, f"could not start the build process: {error.strerror or error}")
            return
        log.info("reindex job %s runs in build process %d", job_id, process.pid)
        threading.Thread(
            target=self._supervise, args=(job_id, process), name=f"reindex-watch-{job_id[:8]}", daemon=True
        ).start()

    def _supervise(self, job_id: str, process: subprocess.Popen[bytes]) -> None:
        code = process.wait()
        if code == 0:
            return  # the job succeeded and the process recorded it
        if code < 0:
            reason = f"the build process was killed by signal {-code}"
        else:
            reason = f"the build process exited with code {code}"
        self._failed(job_id, reason)  # a no-op when the process recorded its failure

    def _failed(self, job_id: str, reason: str) -> None:
        try:
            if self.store.jobs.finish(job_id, state="failed", error=reason):
                log.error("reindex job %s failed: %s", job_id, reason)
                metrics.reindex_finished("failed")
        except Exception:  # the stale-heartbeat rule marks it failed later
            log.warning("could not record the end of reindex job %s", job_id, exc_info=True)
