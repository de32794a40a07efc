"""The related-posts service: Related, Latest and Popular posts for every article.

Importing the package imports nothing else: the recommender core (``service.recommender``)
can be loaded, for instance by a Dask worker unpickling an index, without Flask or the web app.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the web app (see :func:`service.app.create_app`)."""
    from service.app import create_app as build  # noqa: PLC0415 - the web app only when asked for

    return build(test_config)
