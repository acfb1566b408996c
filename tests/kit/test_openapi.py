"""``/openapi.json`` describes every JSON answer: each operation's 2xx response has a schema with
its keys declared (a model), not a bare object, ``{}`` (anything) or a map of unknown keys. An
endpoint returning ``dict[str, Any]`` (or a ``Response`` with an undocumented body) fails here.

Inside the models, the fields that hold free-form JSON by design (user settings, metadata) are
listed in FREE_FORM; any other field typed as a bare object or as anything fails too.
"""

from __future__ import annotations

from typing import Any

import httpx

from saaskit.tracking.endpoints.capture import OK as CAPTURE_OK
from saaskit.tracking.schemas import CaptureAccepted

# Operations whose 2xx answer may stay undescribed, and why.
EXCEPTIONS = {}
# (component, field): free-form JSON by design.
FREE_FORM = {
    ("ActivityOut", "metadata"),
    ("ErrorOut", "context"),
    ("ExperimentOut", "targeting"),  # a GrowthBook condition (MongoDB-like query)
    ("ExperimentRule", "condition"),
    ("FlagEvaluation", "payload"),
    ("FlagOut", "filters"),
    ("Filters", "payloads"),
    ("PropertyFilter", "value"),
    ("NotificationOut", "data"),
    ("WebhookMessageOut", "data"),  # each event type has its own data (webhooks/catalog.py)
    ("OrganizationOut", "settings"),
    ("PreferenceOut", "value"),
    ("PlanOut", "features"),
    ("PlanOut", "limits"),
    ("SessionOut", "device_info"),
    ("SettingOut", "value"),
    ("SystemEventOut", "error_details"),
    ("TeamOut", "settings"),
    ("WorkspaceOut", "settings"),
}
ANNOTATIONS = {"title", "description", "default", "examples", "deprecated", "readOnly", "writeOnly"}
SCALARS = {"string", "integer", "number", "boolean", "null"}


class Spec:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.components: dict[str, Any] = document.get("components", {}).get("schemas", {})

    def resolve(self, schema: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
        """(component name or None, the schema behind any $ref)."""
        name = None
        while "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            schema = self.components[name]
        return name, schema

    def operations(self) -> list[tuple[str, str, str, dict[str, Any]]]:
        """(METHOD, path, status, response) for every 2xx response."""
        found = []
        for path, item in self.document["paths"].items():
            for method, operation in item.items():
                for status, response in operation.get("responses", {}).items():
                    if status.startswith("2"):
                        found.append((method.upper(), path, status, response))
        return found


def _bare(schema: dict[str, Any]) -> bool:
    """Anything (``{}``) or an object whose keys and values are both unknown."""
    meaningful = {k: v for k, v in schema.items() if k not in ANNOTATIONS}
    if not meaningful:
        return True
    if meaningful.get("type") == "object" or "additionalProperties" in meaningful:
        extra = meaningful.get("additionalProperties", True)
        return not meaningful.get("properties") and (extra is True or extra == {})
    return False


def undescribed(spec: Spec, schema: dict[str, Any]) -> str | None:
    """Why a response schema does not describe the answer's keys, or None when it does."""
    _, schema = spec.resolve(schema)
    for union in ("anyOf", "oneOf", "allOf"):
        if union in schema:
            reasons = [undescribed(spec, member) for member in schema[union]]
            return next((r for r in reasons if r), None)
    kind = schema.get("type")
    if kind == "array":
        return undescribed(spec, schema.get("items", {}))
    if kind in SCALARS or "const" in schema or "enum" in schema:
        return None
    if _bare(schema):
        return "a bare object (no declared keys)"
    if not schema.get("properties"):
        return "a map of undeclared keys"
    return None


def nested_free_form(spec: Spec, schema: dict[str, Any], where: str, seen: set[str]) -> list[str]:
    """The fields reachable from ``schema`` typed as anything or as a bare object."""
    name, schema = spec.resolve(schema)
    if name is not None:
        if name in seen:
            return []
        seen.add(name)
        where = name
    found = []
    for field, sub in schema.get("properties", {}).items():
        if name is not None and (name, field) in FREE_FORM:
            continue
        _, target = spec.resolve(sub)
        if _bare(target):
            found.append(f"{where}.{field}")
        found += nested_free_form(spec, sub, f"{where}.{field}", seen)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            found += nested_free_form(spec, schema[key], f"{where}[]", seen)
    for union in ("anyOf", "oneOf", "allOf"):
        for member in schema.get(union, []):
            _, target = spec.resolve(member)
            if _bare(target):
                found.append(f"{where} (a member of {union})")
            found += nested_free_form(spec, member, where, seen)
    return found


async def load(client: httpx.AsyncClient) -> Spec:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    return Spec(response.json())


async def test_every_2xx_json_answer_has_a_described_schema(client: httpx.AsyncClient) -> None:
    spec = await load(client)
    problems = []
    checked = 0
    for method, path, status, response in spec.operations():
        content = response.get("content", {})
        if status == "204":
            if content:
                problems.append(f"{method} {path} {status}: a 204 declares a body")
            continue
        if (method, path) in EXCEPTIONS:
            continue
        if not content:
            problems.append(
                f"{method} {path} {status}: no body described (responses={{...: {{'model': ...}}}})"
            )
            continue
        if "application/json" not in content:
            continue  # HTML, files, ...: not JSON answers
        reason = undescribed(spec, content["application/json"].get("schema", {}))
        if reason:
            problems.append(f"{method} {path} {status}: {reason}")
        checked += 1
    assert not problems, "answers /openapi.json does not describe:\n" + "\n".join(problems)
    assert checked > 100  # the walk saw the API, not an empty document


async def test_no_untyped_field_inside_the_answers(client: httpx.AsyncClient) -> None:
    spec = await load(client)
    found: list[str] = []
    seen: set[str] = set()
    for method, path, _, response in spec.operations():
        if (method, path) in EXCEPTIONS:
            continue
        for media in response.get("content", {}).values():
            found += nested_free_form(spec, media.get("schema", {}), f"{method} {path}", seen)
    assert not found, "fields typed as anything (model them, or list them in FREE_FORM):\n" + "\n".join(
        sorted(set(found))
    )
    assert {name for name, _ in FREE_FORM} <= seen  # every listed model is still in an answer


def test_the_checks_catch_untyped_answers() -> None:
    spec = Spec(
        {
            "paths": {},
            "components": {
                "schemas": {
                    "Typed": {"type": "object", "properties": {"a": {"type": "integer"}}},
                    "Loose": {"type": "object", "properties": {"a": {"type": "object"}}},
                }
            },
        }
    )
    assert undescribed(spec, {"type": "object", "additionalProperties": True}) is not None
    assert undescribed(spec, {"title": "Response"}) is not None
    assert undescribed(spec, {"type": "object", "additionalProperties": {"type": "string"}}) is not None
    assert undescribed(spec, {"type": "array", "items": {"type": "object"}}) is not None
    assert undescribed(spec, {"anyOf": [{"$ref": "#/components/schemas/Typed"}, {"type": "object"}]})
    assert undescribed(spec, {"$ref": "#/components/schemas/Typed"}) is None
    assert undescribed(spec, {"type": "array", "items": {"$ref": "#/components/schemas/Typed"}}) is None
    assert nested_free_form(spec, {"$ref": "#/components/schemas/Loose"}, "", set()) == ["Loose.a"]
    assert nested_free_form(spec, {"$ref": "#/components/schemas/Typed"}, "", set()) == []


def test_the_capture_endpoints_fixed_answer_is_their_documented_model() -> None:
    assert CaptureAccepted.model_validate_json(CAPTURE_OK).model_dump_json().encode() == CAPTURE_OK


async def test_every_operation_documents_its_errors_as_json(client: httpx.AsyncClient) -> None:
    """4XX and 5XX with the one error shape (app.ERROR_RESPONSES), never FastAPI's own 422
    schema (``{"detail": [...]}``, which saaskit never answers), whatever the success's type."""
    spec = await load(client)
    problems = []
    for path, item in spec.document["paths"].items():
        for method, operation in item.items():
            responses = operation.get("responses", {})
            for status in ("4XX", "5XX"):
                content = responses.get(status, {}).get("content", {})
                if (
                    set(content) != {"application/json"}
                    or spec.resolve(content["application/json"]["schema"])[0] != "ErrorAnswer"
                ):
                    problems.append(f"{method.upper()} {path} {status}: {content}")
            if "422" in responses:
                problems.append(f"{method.upper()} {path}: a 422 of its own")
    assert not problems, "\n".join(problems)
    assert "HTTPValidationError" not in spec.components


async def test_every_operation_has_its_own_operation_id(client: httpx.AsyncClient) -> None:
    """OpenAPI requires unique operationIds (client generators name methods after them); a route
    of two methods would give both the same one."""
    spec = await load(client)
    ids = [
        operation["operationId"]
        for item in spec.document["paths"].values()
        for operation in item.values()
        if isinstance(operation, dict) and "operationId" in operation
    ]
    assert len(ids) > 100
    assert sorted(i for i in set(ids) if ids.count(i) > 1) == []
