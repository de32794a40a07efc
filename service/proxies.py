"""The client's address behind reverse proxies (werkzeug's ProxyFix).

``TRUSTED_PROXIES`` (``RELATED_TRUSTED_PROXIES``) is how many proxies in front of the service
append to ``X-Forwarded-For``; the client address is taken that many entries from the end, so a
client cannot forge it by sending the header itself. 0 (the default) ignores the header: the
address is the connection's peer. Unique visitors and the admin authentication limit use it.
"""

from __future__ import annotations

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix


def init_app(app: Flask) -> None:
    """Wrap the app in ProxyFix when proxies are trusted (call it last: the outermost layer)."""
    hops = int(app.config["TRUSTED_PROXIES"])
    if hops < 0:
        raise ValueError("TRUSTED_PROXIES must be 0 or more")
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops)  # type: ignore[method-assign]
