"""gunicorn settings for `make run`; every value can be overridden from the environment."""

import os

bind = f"127.0.0.1:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Threads let a worker answer while a request waits on the database.
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = 60
graceful_timeout = 30
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
# gunicorn's control socket has one fixed path per user: several servers on one machine
# (tests, benchmarks, a second site) would take it from each other. We do not use it.
control_socket_disable = True


def post_worker_init(worker):  # type: ignore[no-untyped-def]
    """Load the published index as the worker starts, so that no request waits for it."""
    app = getattr(worker, "wsgi", None)
    holder = getattr(app, "extensions", {}).get("index_holder")
    if holder is not None:
        holder.current()
