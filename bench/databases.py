"""The PostgreSQL server the benchmarks use, and an empty schema of it for one run."""

from __future__ import annotations

import os
from contextlib import AbstractContextManager

from tests.postgres import fresh_schema

POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def fresh_postgres_schema() -> AbstractContextManager[str]:
    """A URL of ``POSTGRES_URL`` whose connections use a new, empty schema, dropped afterwards."""
    return fresh_schema(POSTGRES_URL, prefix="bench")
