"""The OpenAPI document generated from the route table: valid OpenAPI 3.1, every route listed, schemas
from the msgspec types, error shapes per body family, admin security, WebSocket routes described."""

from __future__ import annotations

import re
from typing import Any

import pytest
from openapi_spec_validator import validate

from bookstrack.app import create_app
from bookstrack.config import load_config
from bookstrack.web import openapi
from bookstrack.web.envelope import Family
from bookstrack.web.openapi import build_document, is_admin, openapi_path
from bookstrack.web.templates import docs_page


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp = tmp_path_factory.mktemp("openapi")
    config = load_config(env={}, overrides={"storage": {"path": str(tmp / "db.sqlite3"), "blobs": str(tmp / "blobs")}})
    return create_app(config)  # built, never started: the document needs only the declarations


@pytest.fixture(scope="module")
def document(app: Any) -> dict[str, Any]:
    return build_document(app.route_specs)


def test_the_document_validates_as_openapi_3_1(document):
    assert document["openapi"] == "3.1.0"
    validate(document)  # raises on any violation of the 3.1 schema


def test_every_route_of_the_table_is_listed_with_each_method(app, document):
    assert len(app.route_specs) >= 40
    for spec in app.route_specs:
        path, _ = openapi_path(spec.path)
        assert path in document["paths"], spec.path
        for method in spec.methods:
            assert method.lower() in document["paths"][path], f"{method} {spec.path}"
    operation_ids = [op["operationId"] for item in document["paths"].values() for op in item.values()]
    assert len(operation_ids) == len(set(operation_ids))


def test_the_operations_surface_documents_itself(document):
    for path in ("/metrics", "/api/cache/metrics", "/openapi.json", "/docs", "/admin/harvest-dashboard"):
        assert "get" in document["paths"][path]


def test_path_placeholders_become_path_parameters():
    assert openapi_path("/v1/jobs/<jobId>/results") == ("/v1/jobs/{jobId}/results", [("jobId", "string")])
    assert openapi_path("/a/<int:n>/<path:rest>") == ("/a/{n}/{rest}", [("n", "int"), ("rest", "path")])


def test_templated_paths_declare_their_path_parameters(document):
    for path, item in document["paths"].items():
        names = set(re.findall(r"{(\w+)}", path))
        for operation in item.values():
            declared = {p["name"] for p in operation.get("parameters", ()) if p["in"] == "path"}
            assert declared == names, path


def test_query_structs_become_query_parameters(document):
    parameters = document["paths"]["/v1/search/title"]["get"]["parameters"]
    assert {"name": "q", "in": "query", "required": True, "schema": {"type": "string"}} in parameters
    metrics = {p["name"]: p for p in document["paths"]["/metrics"]["get"]["parameters"]}
    assert sorted(metrics["format"]["schema"]["enum"]) == ["json", "prometheus"]
    assert metrics["period"]["required"] is False


def test_envelope_routes_wrap_their_response_type_and_errors_use_the_family_shape(document):
    operation = document["paths"]["/v1/search/title"]["get"]
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema["required"] == ["data", "metadata"]
    assert schema["properties"]["data"]["$ref"].startswith("#/components/schemas/")
    assert operation["responses"]["400"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/EnvelopeError"
    }
    legacy = document["paths"]["/search/title"]["get"]["responses"]["400"]
    assert legacy["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/LegacyError"}
    for name in ("EnvelopeError", "LegacyError", "MiddlewareError", "Metadata"):
        assert name in document["components"]["schemas"]


def test_request_bodies_and_rate_limits_are_described(document):
    operation = document["paths"]["/v1/enrichment/batch"]["post"]
    assert "$ref" in operation["requestBody"]["content"]["application/json"]["schema"]
    assert operation["responses"]["429"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/MiddlewareError"
    }
    login = document["paths"]["/admin/login"]["post"]
    assert "application/x-www-form-urlencoded" in login["requestBody"]["content"]


def test_websocket_routes_are_described_as_the_upgrading_get(document):
    operation = document["paths"]["/ws/progress"]["get"]
    assert operation["x-websocket"] is True
    assert "101" in operation["responses"]
    assert "426" in operation["responses"]
    assert {p["name"] for p in operation["parameters"]} >= {"jobId", "token", "reconnect"}


def test_admin_routes_carry_the_admin_security_schemes(app, document):
    admin = [spec for spec in app.route_specs if is_admin(spec)]
    assert {s.path for s in admin} >= {"/admin/harvest-dashboard", "/admin/harvest-dashboard/data"}
    for spec in admin:
        path, _ = openapi_path(spec.path)
        for method in spec.methods:
            assert {"adminBearer": []} in document["paths"][path][method.lower()]["security"], spec.path
    assert "security" not in document["paths"]["/admin/login"]["post"]
    assert "security" not in document["paths"]["/metrics"]["get"]
    assert set(document["components"]["securitySchemes"]) == {"adminBearer", "adminSession"}


def test_text_routes_answer_plain_text_and_media_types_come_from_descriptions(document):
    events = document["paths"]["/v1/jobs/{jobId}/events"]["get"]["responses"]["200"]
    assert "text/event-stream" in events["content"]
    docs = document["paths"]["/docs"]["get"]["responses"]["200"]
    assert "text/html" in docs["content"]


def test_a_route_without_types_still_documents_its_family(document):
    assert all(op["x-body-family"] in {f.value for f in Family}
               for item in document["paths"].values() for op in item.values())


def test_the_docs_page_loads_nothing_from_elsewhere():
    page = docs_page()
    assert "openapi.json" in page
    assert not re.search(r"(src|href)=\"(https?:)?//", page)
    assert "<script src" not in page
    assert openapi.__doc__  # the module says what it owns
