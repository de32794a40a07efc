"""The admin dashboard page at ``/admin``: static HTML whose script reads the admin JSON API."""

from __future__ import annotations

from flask import Blueprint, Flask, Response, render_template

blueprint = Blueprint(
    "dashboard",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/admin/static",
)

# The page embeds no data and runs only its own files, so it can forbid everything else:
# no inline script, no third-party origin, no framing, and no form submission (the token
# form is handled by the script and must never fall back to a GET that puts it in a URL).
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}


@blueprint.get("/admin")
def dashboard() -> Response:
    """The page; it needs no token to load, the admin asks for it in the page."""
    response = Response(render_template("dashboard.html"), mimetype="text/html")
    response.headers.update(SECURITY_HEADERS)
    return response


def init_app(app: Flask) -> None:
    app.register_blueprint(blueprint)
