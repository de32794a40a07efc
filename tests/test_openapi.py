"""The OpenAPI document: it lists exactly the app's routes, and every answer conforms to it."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.schemas import OpenApiSchema

from service import create_app
from service.reindex import build_index
from service.resources import close_resources
from tests.conftest import ADMIN_TOKEN
from tests.factories import corpus

DOCUMENT = "/api/v1/openapi.json"
SAMPLE_CORPUS = Path(__file__).resolve().parent.parent / "corpus"
# The document's example id and other articles of corpus/, named by the generated requests.
SAMPLE_IDS = (
    "kratom-withdrawal-restless-legs",
    "magnesium-forms-compared",
    "sleep-hygiene-myths",
    "restless-legs-syndrome-and-sleep",
)
# Generated DELETEs name these (the factory corpus), so the sample articles stay for the rest.
DISPOSABLE_IDS = tuple(record["id"] for record in corpus())
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
# schemathesis' WSGI transport sends requests' Accept-Encoding (zstd among them) but does not
# decode, and closes a streamed body (a file) only when werkzeug buffers it.
IDENTITY = {"Accept-Encoding": "identity"}
TRANSPORT: dict[str, Any] = {"buffered": True}
METHODS = ("get", "put", "post", "delete", "patch")
WRITES = {"PUT", "POST", "DELETE", "PATCH"}
UNDOCUMENTED_METHODS = {"HEAD", "OPTIONS"}
BODILESS_STATUSES = {"204", "302", "304"}
# Every answer: no 5xx but the documented 503, and status, type, headers and body as documented.
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
]
NOT_SERVER_ERRORS = ["2xx", "3xx", "4xx", "503"]  # 503: admin_disabled, store_unavailable, …
# Explicit examples of the document, each parameter's edges and wrong methods (coverage), then
# fuzzing. PostgreSQL leaves the edges of parameters, parsed alike on both stores, to SQLite:
# the file stays well under a minute on 2 cores.
PHASES = {"sqlite": ["examples", "coverage", "fuzzing"], "postgresql": ["examples", "fuzzing"]}
MAX_EXAMPLES = {"sqlite": 15, "postgresql": 10}  # fuzzed cases per operation
# Ids no article can have: NUL (PostgreSQL refuses it even in a query), too long, not ASCII.
IMPOSSIBLE_IDS = ("nul\x00id", "x" * 201, "café")


def flask_routes(app: Flask) -> set[tuple[str, str]]:
    """The app's ``(METHOD, /path/{param})`` pairs, without HEAD, OPTIONS and static files."""
    pairs = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint.endswith(".static"):
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        pairs |= {(method, path) for method in rule.methods or () if method not in UNDOCUMENTED_METHODS}
    return pairs


def documented_operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield method.upper(), path, item[method]


def resolve(document: dict[str, Any], node: Any) -> Any:
    """``node`` with its ``$ref`` (into ``document``) followed, repeatedly."""
    while isinstance(node, dict) and "$ref" in node:
        target: Any = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def make_sample_app(tmp_path: Path, database_url: str) -> Flask:
    """An app over ``database_url`` with corpus/, the factory corpus, an index and a few views."""
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": database_url,
            "MODEL_DIR": str(tmp_path / "models"),
            "ADMIN_TOKEN": ADMIN_TOKEN,
            "INDEX_RELOAD_SECONDS": 0.0,
            "AUTO_REBUILD": False,
            # generated requests without the token must not lock the admin endpoints (429)
            "ADMIN_AUTH_LIMIT": "100000 per minute",
        }
    )
    imported = app.test_cli_runner().invoke(args=["import-corpus", str(SAMPLE_CORPUS)])
    assert imported.exit_code == 0, imported.output
    client = app.test_client()
    assert client.post("/api/v1/articles", json=corpus(), headers=ADMIN).status_code == 200
    build_index(app.extensions["store"], Path(app.config["MODEL_DIR"]))
    for article_id in SAMPLE_IDS[:3]:
        assert client.post(f"/api/v1/articles/{article_id}/views").status_code == 202
    return app


def wait_for_reindex(app: Flask, timeout: float = 30) -> None:
    """Until the latest reindex job (a generated POST may start one) has finished."""
    client, deadline = app.test_client(), time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get("/api/v1/admin/reindex", headers=ADMIN).get_json()["job"]
        if job is None or job["state"] in ("succeeded", "failed"):
            return
        time.sleep(0.05)
    raise AssertionError("the reindex job did not finish")


@pytest.fixture
def sample_app(tmp_path: Path, database_url: str) -> Iterator[Flask]:
    """A fresh app per test (the test may delete its articles), on SQLite and PostgreSQL."""
    app = make_sample_app(tmp_path, database_url)
    yield app
    wait_for_reindex(app)  # its thread holds a connection of the store disposed next
    close_resources(app)


@pytest.fixture
def document(tmp_path: Path, sqlite_url: str) -> Iterator[tuple[Flask, dict[str, Any]]]:
    """An app (SQLite) and the document it serves."""
    app = create_app({"TESTING": True, "DATABASE_URL": sqlite_url, "MODEL_DIR": str(tmp_path / "models")})
    response = app.test_client().get(DOCUMENT)
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    served = response.get_json()
    assert isinstance(served, dict)
    yield app, served
    close_resources(app)


def test_document_is_valid_openapi_3_1(document: tuple[Flask, dict[str, Any]]) -> None:
    _, served = document
    assert served["openapi"].startswith("3.1.")
    schemathesis.openapi.from_dict(served).validate()  # against the OpenAPI 3.1 meta-schema


def test_document_lists_exactly_the_apps_routes(document: tuple[Flask, dict[str, Any]]) -> None:
    app, served = document
    routes = flask_routes(app)
    described = {(method, path) for method, path, _ in documented_operations(served)}
    assert sorted(routes - described) == [], "routes missing from service/api/openapi.yaml"
    assert sorted(described - routes) == [], "documented operations the app does not have"


def test_every_documented_answer_has_a_schema(document: tuple[Flask, dict[str, Any]]) -> None:
    _, served = document
    missing = []
    for method, path, operation in documented_operations(served):
        for status, answer in operation["responses"].items():
            content = resolve(served, answer).get("content")
            where = f"{method} {path} {status}"
            if status in BODILESS_STATUSES:
                assert not content, f"{where} has no body"
            elif not content:
                missing.append(where)
            else:
                missing += [
                    f"{where} {kind}"
                    for kind, body in content.items()
                    if not resolve(served, body.get("schema"))
                ]
    assert missing == []


def test_admin_operations_need_the_token_and_public_ones_do_not(
    document: tuple[Flask, dict[str, Any]],
) -> None:
    _, served = document
    for method, path, operation in documented_operations(served):
        security = operation.get("security")
        assert security in ([], [{"bearer": []}]), f"{method} {path} security: {security}"
        # the dashboard's sign-in takes the token in its form, and answers 401 to a wrong one
        refused = "401" in operation["responses"] and operation["operationId"] != "dashboardSignIn"
        assert (security == [{"bearer": []}]) == refused, f"{method} {path}"


def test_the_document_refuses_the_text_fields_the_app_refuses(document: tuple[Flask, dict[str, Any]]) -> None:
    """A title, a tag or an excluded name must hold more than white space (as Python strips it),
    and no U+0000: each pattern of the document says what the app checks, character by character."""
    _, served = document
    schemas = served["components"]["schemas"]
    article = schemas["ArticleInput"]["properties"]
    patterns = [
        article["title"]["pattern"],
        article["tags"]["items"]["pattern"],
        schemas["ExcludedName"]["pattern"],
    ]
    for character in map(chr, range(0x3100)):
        accepted = bool(character.strip()) and character != "\x00"
        for pattern in patterns:
            assert bool(re.fullmatch(pattern, f"  {character} ")) == accepted, hex(ord(character))


def test_document_is_built_once_per_app_on_first_request(tmp_path: Path, sqlite_url: str) -> None:
    app = create_app({"TESTING": True, "DATABASE_URL": sqlite_url, "MODEL_DIR": str(tmp_path / "models")})
    try:
        assert "openapi" not in app.extensions
        client = app.test_client()
        first = client.get(DOCUMENT).data
        cached = app.extensions["openapi"]
        assert client.get(DOCUMENT).data == first
        assert app.extensions["openapi"] is cached
    finally:
        close_resources(app)


# --- every answer of a real app conforms to the document (schemathesis) ---


def with_real_articles(schema: OpenApiSchema) -> OpenApiSchema:
    """Make generated requests name stored articles two times in three, to reach their 200s."""

    def stored(ids: tuple[str, ...], values: dict[str, Any], key: str) -> st.SearchStrategy[dict[str, Any]]:
        real = st.sampled_from(ids).map(lambda article_id: {**values, key: article_id})
        return st.one_of(st.just(values), real, real)

    @schema.hook
    def flatmap_path_parameters(
        context: schemathesis.HookContext, path_parameters: dict[str, Any] | None
    ) -> st.SearchStrategy[dict[str, Any] | None]:
        if not path_parameters or "article_id" not in path_parameters:
            return st.just(path_parameters)
        deletes = context.operation is not None and context.operation.method.upper() == "DELETE"
        return stored(DISPOSABLE_IDS if deletes else SAMPLE_IDS, path_parameters, "article_id")

    @schema.hook
    def flatmap_body(context: schemathesis.HookContext, body: Any) -> st.SearchStrategy[Any]:
        clicks = context.operation is not None and context.operation.path.endswith("/clicks")
        return stored(SAMPLE_IDS, body, "target") if clicks and isinstance(body, dict) else st.just(body)

    @schema.hook
    def map_case(context: schemathesis.HookContext, case: schemathesis.Case) -> schemathesis.Case:
        # A PUT names the article of its URL in the body too (a different id is a plain 422).
        if case.method.upper() == "PUT" and isinstance(case.body, dict) and "title" in case.body:
            case.body = {**case.body, "id": (case.path_parameters or {}).get("article_id")}
        return case

    return schema


@pytest.fixture
def api_schema(sample_app: Flask, request: pytest.FixtureRequest) -> OpenApiSchema:
    """The served document, bound to a fresh app with the sample articles and an index."""
    # schemathesis 4.32 names its subtests through ``Node._nodeid``, which pytest 9 no longer has.
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid
    schema = schemathesis.openapi.from_wsgi(DOCUMENT, sample_app, headers=IDENTITY)
    schema.config.checks.update(included_check_names=CHECKS)
    schema.config.checks.not_a_server_error.expected_statuses = NOT_SERVER_ERRORS
    dialect = str(sample_app.config["DATABASE_URL"]).split(":", 1)[0].split("+", 1)[0]
    schema.config.phases.update(phases=PHASES[dialect])
    schema.config.generation.update(max_examples=MAX_EXAMPLES[dialect])
    return with_real_articles(schema)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)
def test_every_answer_conforms_to_the_document(case: schemathesis.Case) -> None:
    store = case.operation.schema.app.extensions["store"]
    version = store.changes.version()  # raised by every write that changes what lists show
    response = case.call_and_validate(headers={**ADMIN, **IDENTITY}, **TRANSPORT)
    refused_write = case.method.upper() in WRITES and 400 <= response.status_code < 500
    assert not refused_write or store.changes.version() == version, "a refused write changed the store"


def test_not_modified_conforms_to_the_document(api_schema: OpenApiSchema) -> None:
    for path in (
        "/api/v1/articles/{article_id}/recommendations",
        "/api/v1/articles/{article_id}/recommendations.html",
    ):
        operation = api_schema[path]["GET"]
        first = operation.Case(path_parameters={"article_id": SAMPLE_IDS[0]})
        response = first.call(headers=IDENTITY, **TRANSPORT)
        first.validate_response(response)
        assert response.status_code == 200
        etag = response.headers["etag"][0]
        for validators, status in [(etag, 304), (f'"other", W/{etag}', 304), ('""', 200), ('W/"", "x"', 200)]:
            again = operation.Case(
                path_parameters={"article_id": SAMPLE_IDS[0]}, headers={"If-None-Match": validators}
            )
            answer = again.call(headers=IDENTITY, **TRANSPORT)
            again.validate_response(answer)
            assert answer.status_code == status, (path, validators)
            assert answer.content == b"" if status == 304 else answer.content == response.content


BODIES: dict[str, Any] = {
    "PUT /api/v1/articles/{article_id}": {"title": "A title"},
    "PUT /api/v1/admin/articles/{article_id}/editorial": {"pinned": [], "excluded": []},
    "POST /api/v1/articles/{article_id}/clicks": {"section": "related", "target": SAMPLE_IDS[0]},
}


def test_ids_no_article_can_have_are_not_found(api_schema: OpenApiSchema) -> None:
    with_id = [
        api_schema[path][method]
        for path in api_schema
        if "{article_id}" in path
        for method in api_schema[path]
    ]
    assert len(with_id) >= 10
    for operation in with_id:
        body = BODIES.get(operation.label)
        for article_id in IMPOSSIBLE_IDS:
            path_parameters = {"article_id": article_id}
            case = (
                operation.Case(path_parameters=path_parameters)
                if body is None
                else operation.Case(path_parameters=path_parameters, body=body, media_type="application/json")
            )
            response = case.call(headers={**ADMIN, **IDENTITY}, **TRANSPORT)
            case.validate_response(response)
            assert response.status_code in (404, 422), (operation.label, article_id, response.status_code)


def test_text_no_store_can_hold_is_refused_alike_on_every_store(api_schema: OpenApiSchema) -> None:
    """NUL cannot be stored in PostgreSQL: it is refused with 422 (never a 500), on SQLite too."""
    writes: list[tuple[str, str, dict[str, Any] | None, Any]] = [
        ("/api/v1/articles/{article_id}", "PUT", {"article_id": "nul-title"}, {"title": "a\x00b"}),
        ("/api/v1/articles", "POST", None, [{"id": "nul-tag", "title": "t", "tags": ["a\x00b"]}]),
        ("/api/v1/admin/exclusions", "PUT", None, {"categories": ["a\x00b"], "tags": []}),
        ("/api/v1/admin/exclusions", "PUT", None, {"categories": [], "tags": ["a\x00b"]}),
    ]
    for path, method, path_parameters, body in writes:
        case = api_schema[path][method].Case(
            path_parameters=path_parameters, body=body, media_type="application/json"
        )
        response = case.call(headers={**ADMIN, **IDENTITY}, **TRANSPORT)
        case.validate_response(response)
        assert response.status_code == 422, (method, path, body, response.status_code)
