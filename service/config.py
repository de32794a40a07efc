"""Configuration: defaults, then the environment (see CONTRACT.md), then a test mapping."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from service.recommender import RelatedIndex
from service.recommender.embeddings import MAX_DOCUMENTS as EMBEDDING_MAX_DOCUMENTS

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Environment variables that are not in the contract carry this prefix, e.g.
# RELATED_INDEX_RELOAD_SECONDS=2 (Flask's from_prefixed_env parses numbers and booleans).
ENV_PREFIX = "RELATED"


def default_config(instance_path: str) -> dict[str, Any]:
    """Settings that apply when neither the environment nor the caller says otherwise."""
    return {
        "DATABASE_URL": f"sqlite:///{Path(instance_path) / 'related.db'}",
        "MODEL_DIR": str(PROJECT_ROOT / "models"),
        "ADMIN_TOKEN": None,
        "MAX_CONTENT_LENGTH": 16 * 1024 * 1024,
        # How often each worker looks for a newly published index, in seconds.
        "INDEX_RELOAD_SECONDS": 1.0,
        # How often each worker's catalog follows the store's writes in the background (0: only
        # requests do, each reading what changed before it is answered, as they always do).
        "CATALOG_FOLLOW_SECONDS": 1.0,
        # Hyperparameters of RelatedIndex (keyword arguments), merged over its defaults.
        "INDEX_PARAMS": {},
        # Blend sentence embeddings into the related lists (needs requirements-embeddings.txt;
        # service/recommender/embeddings.py), for corpora of at most EMBEDDING_MAX_DOCUMENTS
        # articles (embedding runs at ~45 articles a second on 2 cores; vectors are cached).
        "EMBEDDINGS": False,
        "EMBEDDING_MAX_DOCUMENTS": EMBEDDING_MAX_DOCUMENTS,
        # A reindex job whose heartbeat is older than this is taken for dead.
        "REINDEX_STALE_SECONDS": 60.0,
        "REINDEX_HEARTBEAT_SECONDS": 5.0,
        # Bots are told by the crawler-user-agents list (service/bots.py); this case-insensitive
        # regular expression marks more User-Agents as bots (None: the list alone). Their views
        # are answered {"recorded": false} and counted apart as bot hits.
        "BOT_USER_AGENT_PATTERN": None,
        # How many reverse proxies in front of the service append to X-Forwarded-For: the
        # client address (unique visitors, admin auth limits) is taken that many entries from
        # its end (werkzeug's ProxyFix). 0: the header is ignored.
        "TRUSTED_PROXIES": 0,
        # The secret of the daily salts of visitor hashes: HMAC(secret, UTC day). None: a random
        # salt per day, kept in the store (so every worker and replica agrees) and deleted two
        # days later.
        "VISITOR_SALT_SECRET": None,
        # Days of hourly view rows kept (trending, the last 24 hours and 7 days are exact to the
        # hour); older ones live on as daily rows. Windows longer than this start on a whole day.
        "HOURLY_RETENTION_DAYS": 14,
        # Roll hourly counts up, and prune, from the service itself (at most once an hour);
        # false leaves it to `flask --app wsgi prune` (e.g. from cron).
        "AUTO_ROLLUP": True,
        # How many artifacts to keep in MODEL_DIR (the published one always stays).
        "KEEP_ARTIFACTS": 3,
        # related: the score a "similar" article needs; below it, fallbacks fill the list.
        "MIN_SCORE": 0.05,
        # related: blend of a recency decay into the score, 0 (off) to 1, and its half-life.
        "RECENCY_WEIGHT": 0.0,
        "RECENCY_HALF_LIFE_DAYS": 180.0,
        # related: leave out articles older than this many days (None: no limit).
        "MAX_AGE_DAYS": None,
        # Rebuild the index in the background after writes when this share of the indexed
        # articles changed, or when anything changed and the index is older than this.
        "AUTO_REBUILD": True,
        "REBUILD_CHANGED_SHARE": 0.1,
        "REBUILD_MAX_AGE_HOURS": 24.0,
        # Where a reindex job builds: "process" (its own process, supervised; the default) or
        # "thread" (in the calling process; the default under TESTING). None: the default.
        "REINDEX_RUNNER": None,
        # Neighbours learned before the replaced index read the store are dropped this long
        # after a new index is published (every worker has switched by then).
        "OVERLAY_GRACE_SECONDS": 300.0,
        # A worker serves a most-viewed list for at most this long after reading it (popular
        # lags views by at most this; the contract allows 2 s), and re-reads it in the
        # background once it is half that old.
        "POPULAR_MAX_LAG_SECONDS": 1.8,
        # Workers and replicas sharing MODEL_DIR read each popular list from the store once
        # between them, in turn, and pass it on in MODEL_DIR/popular/<store> (service/shared_lists.py).
        "SHARE_POPULAR_LISTS": True,
        # Encoded answers each worker keeps (0 turns the cache off), and for how long at most.
        # An answer is also recomputed as soon as anything it was built from changes.
        "ANSWER_CACHE_SIZE": 10_000,
        "ANSWER_CACHE_SECONDS": 30.0,
        # SQLite in WAL mode: NORMAL commits survive a crash of the process, FULL also a power
        # loss (an fsync per commit; views are group-committed, so it costs per batch).
        "SQLITE_SYNCHRONOUS": "NORMAL",
        # SQLite: a write waits at most this long for the database (another writer, another
        # process's transaction), then answers 503 store_unavailable.
        "SQLITE_WRITE_TIMEOUT_SECONDS": 30.0,
        # A view is acknowledged once committed; a request waits this long for its commit.
        "VIEW_COMMIT_TIMEOUT_SECONDS": 10.0,
        # Failed admin authentications allowed per client address (then 429 until the window
        # passes; the right token is never refused), in the notation of the `limits` library:
        # generous, so that a check probing every admin endpoint's 401 a few times never meets
        # it. RATELIMIT_STORAGE_URI says where counts live (memory:// per worker;
        # redis://host:6379 shared by every worker).
        "ADMIN_AUTH_LIMIT": "300 per minute",
        "RATELIMIT_STORAGE_URI": "memory://",
        # Cache-Control max-age, in seconds, of recommendations and their HTML fragment; 0: a
        # cache must revalidate every time (a 304 while the answer is the same), so that a
        # write is in the next answer through any cache, as the contract reads your own writes.
        "HTTP_CACHE_MAX_AGE": 0,
        # Origins allowed to call the public endpoints from a browser (CORS_ORIGINS, comma-
        # separated, or "*"); none by default. Admin endpoints never allow another origin.
        "CORS_ORIGINS": [],
        # The article that GET / shows on the demo site (/demo/<id>): the sample corpus's first.
        "DEMO_ARTICLE": "kratom-withdrawal-restless-legs",
        # Serve GET /metrics (Prometheus) and count every request (service/metrics.py).
        "METRICS_ENABLED": True,
        # Log lines as "json" (one object a line; gunicorn.conf.py makes it the default under
        # gunicorn) or "text" (the CLI's default), when the app sets up logging itself.
        "LOG_FORMAT": "text",
        # One log line per request (request id, method, path, status, duration, pid).
        "LOG_REQUESTS": True,
        # --- The dashboard's session (service/api/auth.py) ---
        # Signs the session cookie and CSRF tokens (RELATED_SECRET_KEY). Unset: derived from
        # ADMIN_TOKEN with HMAC-SHA256, so every worker and replica agrees without configuration.
        "SECRET_KEY": None,
        "SESSION_COOKIE_NAME": "related_admin",
        # Send the cookie over HTTPS only: turn on (RELATED_SESSION_COOKIE_SECURE=true) when the
        # dashboard is served over HTTPS; off by default so that http://127.0.0.1 works.
        "SESSION_COOKIE_SECURE": False,
        "SESSION_COOKIE_HTTPONLY": True,
        # Never sent with a request another site starts: no cross-site request is authenticated.
        "SESSION_COOKIE_SAMESITE": "Strict",
        # The cookie is written when it changes (sign-in, sign-out), never re-sent on other answers,
        # so that no cacheable public answer carries a Set-Cookie.
        "SESSION_REFRESH_EACH_REQUEST": False,
        # How long a sign-in lasts, in seconds (from signing in, however active the admin is).
        "PERMANENT_SESSION_LIFETIME": 12 * 3600,
    }


def environment_config(environ: Mapping[str, str]) -> dict[str, Any]:
    """The contract's variables, read from ``environ`` where they are set and non-empty."""
    config: dict[str, Any] = {}
    for name in ("DATABASE_URL", "MODEL_DIR", "ADMIN_TOKEN"):
        value = environ.get(name, "").strip()
        if value:
            config[name] = value
    origins = [origin.strip() for origin in environ.get("CORS_ORIGINS", "").split(",") if origin.strip()]
    if origins:
        config["CORS_ORIGINS"] = origins
    return config


def load_config(app: Any, test_config: Mapping[str, Any] | None) -> None:
    """Fill ``app.config`` in order: defaults, environment, ``test_config``."""
    app.config.update(default_config(app.instance_path))
    app.config.update(environment_config(os.environ))
    app.config.from_prefixed_env(ENV_PREFIX)
    if test_config:
        app.config.update(test_config)
    app.config["MODEL_DIR"] = str(Path(app.config["MODEL_DIR"]).resolve())
    check_index_params(app.config["INDEX_PARAMS"])


def check_index_params(params: Any) -> None:
    """Refuse ``INDEX_PARAMS`` (``RELATED_INDEX_PARAMS``) that no build could use, at start-up
    rather than at the first rebuild: a JSON object of :class:`RelatedIndex` parameters."""
    if not isinstance(params, Mapping):
        raise ValueError(f"RELATED_INDEX_PARAMS must be a JSON object of index parameters, not {params!r}")
    try:
        RelatedIndex(**params)
    except TypeError as error:  # an unknown name
        raise ValueError(f"RELATED_INDEX_PARAMS: {error}") from None
