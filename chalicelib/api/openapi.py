"""`GET /api/openapi.json`: an OpenAPI 3.1 document built from the routing table and the
resource declarations that drive the handlers, so it lists exactly what is served."""
from __future__ import annotations

import hashlib
import json

from chalice import Blueprint, Response

from chalicelib.api.http import ROUTES, RouteDoc, endpoint
from chalicelib.services import limits
from chalicelib.services.crud import LIMIT, MAX_LIMIT, OFFSET
from chalicelib.services.fields import Field
from chalicelib.services.resources import Resource, all_resources

bp = Blueprint(__name__)

_ERROR = {"$ref": "#/components/schemas/Error"}
_ERROR_TEXTS = {
    "400": "Invalid input; the detail names the field",
    "401": "Not authenticated",
    "403": "No permission",
    "404": "Not found",
    "405": "Method not allowed; the Allow header lists the methods this path serves",
    "409": "The record was changed by another request meanwhile; read it again and retry",
    "413": f"Request body larger than {limits.MAX_BODY_BYTES:,} bytes",
}
_ID = {"type": "integer", "minimum": 1, "maximum": limits.INT_MAX}


def _schema_name(resource: Resource) -> str:
    return "".join(part.capitalize() for part in resource.family.replace(".", "_").split("_"))


def ref(resource: Resource) -> dict:
    """A reference to the record schema of a resource (for the docs of custom routes)."""
    return {"$ref": f"#/components/schemas/{_schema_name(resource)}"}


def page_of(items: dict) -> dict:
    """The list envelope of spec §1.6 around `items`."""
    return {"type": "object", "required": ["count", "next", "previous", "results"], "properties": {
        "count": {"type": "integer", "minimum": 0}, "next": {"type": ["string", "null"]},
        "previous": {"type": ["string", "null"]}, "results": {"type": "array", "items": items}}}


def _record_schema(resource: Resource) -> dict:
    props: dict = {"id": {**_ID, "readOnly": True}}
    for f in resource.fields:
        if f.hidden:
            continue
        props[f.name] = f.openapi()
    for label in resource.labels:
        props[label.name] = label.openapi()
    props.update({name: {"readOnly": True} for name in resource.extra_fields})
    return {"type": "object", "required": list(props), "properties": props,
            "description": resource.description or resource.title, "x-opsgrat": client_facts(resource)}


def natural_key(resource: Resource) -> list[str]:
    """The fields that name a record to a person (and to `opsgrat apply`): the first unique
    tuple, else its parent and `name`, else `name`; empty for records known only by id (jobs)
    and for the one record of a singleton."""
    if resource.unique:
        return list(resource.unique[0])
    if resource.singleton or "name" not in resource.by_name:
        return []
    if resource.access.kind == "parent":
        return [resource.access.parent_field, "name"]
    return ["name"]


def client_facts(resource: Resource) -> dict:
    """What a generic client (the `opsgrat` CLI) needs beyond JSON Schema: the family, its
    natural key, which fields name records of which family, the secret fields, and whether
    clients may write it."""
    return {"family": resource.family, "key": natural_key(resource),
            "refs": {f.name: f.family for f in resource.refs}, "secrets": [f.name for f in resource.secrets],
            "singleton": resource.singleton, "read_only": resource.read_only, "updatable": resource.updatable}


def _input_schema(resource: Resource, partial: bool) -> dict:
    props = {}
    for f in resource.writable:
        props[f.name] = f.openapi(request=True)
    out: dict = {"type": "object", "properties": props}
    required = [f.name for f in resource.writable if f.required]
    if required and not partial:
        out["required"] = required
    return out


def query_parameter(f: Field) -> dict:
    """A query-string parameter parsed by field `f`: its schema, without null (a query string
    holds no null; an empty value means "not given")."""
    schema = dict(f.schema())
    kinds = schema.get("type")
    if isinstance(kinds, list):
        kinds = [k for k in kinds if k != "null"]
        schema["type"] = kinds[0] if len(kinds) == 1 else kinds
    out = {"name": f.name, "in": "query", "schema": schema}
    if f.description:
        out["description"] = f.description
    return out


def paging_params() -> list[dict]:
    """`offset` and `limit`; the document names the largest page (larger values are capped)."""
    limit = query_parameter(LIMIT)
    limit["schema"]["maximum"] = MAX_LIMIT
    return [query_parameter(OFFSET), limit]


def list_params(resource: Resource) -> list[dict]:
    params = [*paging_params(),
              {"name": "ordering", "in": "query", "schema": {"type": "string"},
               "description": "Comma-separated fields, '-' for descending: " + ", ".join(["id", *resource.ordering])}]
    if resource.search:
        params.append({"name": "search", "in": "query", "schema": {"type": "string"},
                       "description": "Case-insensitive substring over " + ", ".join(resource.search)})
    for name in resource.filters:
        param = query_parameter(resource.by_name[name])
        param["name"] = name
        param["description"] = "Exact match."
        params.append(param)
    return params


#: headers that always come with an error status (`ServiceError.headers`)
_ERROR_HEADERS = {
    "401": {"WWW-Authenticate": {"description": "The scheme to use: `Token`", "schema": {"type": "string"}}},
    "429": {"Retry-After": {"description": "Seconds to wait before trying again",
                            "schema": {"type": "integer", "minimum": 1}}},
}


def _responses(status: int, content: dict | None, description: str, *, method: str, public: bool,
               item: bool, body: bool, params: bool, errors: dict[int, str] | None = None) -> dict:
    """The success response and every error this operation can answer (all `{"detail"}`), plus a
    route's own `errors` (status -> description)."""
    ok: dict = {"description": description}
    if content:
        ok["content"] = content
    codes = ["405"]
    if body or params or not public or method != "get":
        codes.append("400")
    if not public:
        codes += ["401", "403"]
    if item:
        codes.append("404")
    if method != "get":
        codes.append("409")
    if body:
        codes.append("413")
    out = {str(status): ok}
    texts = {**_ERROR_TEXTS, **{str(k): v for k, v in (errors or {}).items()}}
    for code in sorted(set(codes) | {str(k) for k in (errors or {})}):
        out[code] = {"description": texts[code], "content": {"application/json": {"schema": _ERROR}}}
        if code in _ERROR_HEADERS:
            out[code]["headers"] = _ERROR_HEADERS[code]
    return out


def _json(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


def _body(schema: dict) -> dict:
    return {"required": True, "content": {"application/json": {"schema": schema},
                                          "application/x-www-form-urlencoded": {"schema": schema}}}


def _resource_ops(route: RouteDoc, schemas: dict) -> dict:
    resource: Resource = route.resource
    name = _schema_name(resource)
    schemas[name + "Input"] = _input_schema(resource, partial=False)
    schemas[name + "Patch"] = _input_schema(resource, partial=True)
    record = ref(resource)
    ops: dict = {}
    title = resource.title
    item = route.kind == "item"

    def responses(method: str, status: int, content: dict | None, description: str = "OK", body: bool = False):
        return _responses(status, content, description, method=method, public=False, item=item, body=body,
                          params=method == "get" and not item)

    if not item:
        ops["get"] = {"summary": f"List {title}", "parameters": list_params(resource),
                      "responses": responses("get", 200, _json(page_of(record)))}
        if "POST" in route.methods:
            ops["post"] = {"summary": f"Create ({title})", "requestBody": _body({"$ref": f"#/components/schemas/{name}Input"}),
                           "responses": responses("post", 201, _json(record), "Created", body=True)}
            ops["delete"] = {"summary": f"Bulk delete ({title}): pk=1,2 or pk[]=1&pk[]=2 in the body",
                             "requestBody": _body({"$ref": "#/components/schemas/BulkDelete"}),
                             "responses": responses("delete", 200, _json({"$ref": "#/components/schemas/Deleted"}),
                                                    body=True)}
    else:
        ops["get"] = {"summary": f"Read one ({title})", "responses": responses("get", 200, _json(record))}
        if "PUT" in route.methods:
            ops["put"] = {"summary": f"Replace ({title})", "requestBody": _body({"$ref": f"#/components/schemas/{name}Input"}),
                          "responses": responses("put", 200, _json(record), body=True)}
            ops["patch"] = {"summary": f"Update some fields ({title})",
                            "requestBody": _body({"$ref": f"#/components/schemas/{name}Patch"}),
                            "responses": responses("patch", 200, _json(record), body=True)}
        if "DELETE" in route.methods:
            ops["delete"] = {"summary": f"Delete ({title})", "responses": responses("delete", 204, None, "Deleted")}
    return ops


def _custom_ops(route: RouteDoc) -> dict:
    """Operations of hand-written routes, from their docs: `summary`, `status`, `response` (a
    JSON schema) or `content` (schemas by media type), `request` (a JSON schema) or
    `request_content` (schemas by media type, for a body that is not JSON) and `query`
    (the fields parsed from the query string, or parameter objects)."""
    ops = {}
    for method, doc in route.methods.items():
        content = doc.get("content") or _json(doc.get("response", {"type": "object"}))
        query = [q if isinstance(q, dict) else query_parameter(q) for q in doc.get("query", ())]
        op: dict = {"summary": doc.get("summary", route.path),
                    "responses": _responses(doc.get("status", 200), content, doc.get("description", "OK"),
                                            method=method.lower(), public=route.public,
                                            item=bool(route.path_params),
                                            body=bool(doc.get("request") or doc.get("request_content")),
                                            params=bool(query), errors=doc.get("errors"))}
        if doc.get("request"):
            op["requestBody"] = _body(doc["request"])
        if doc.get("request_content"):  # a body that is not JSON (an archive's bytes): schemas by media type
            op["requestBody"] = {"required": True, "content": doc["request_content"]}
        if query:
            op["parameters"] = query
        ops[method.lower()] = op
    return ops


def doc_path(path: str) -> str:
    """Paths are shown as clients write them: with a trailing slash (not after a file name)."""
    return path if "." in path.rsplit("/", 1)[-1] else path + "/"


def build_document(server_url: str = "/") -> dict:
    schemas: dict = {
        "Error": {"type": "object", "required": ["detail"], "properties": {"detail": {"type": "string"}}},
        "BulkDelete": {"type": "object", "properties": {
            "pk": {"type": "string", "description": "Comma-separated ids"},
            "pk[]": {"type": "array", "items": _ID}}},
        "Deleted": {"type": "object", "required": ["deleted"],
                    "properties": {"deleted": {"type": "array", "items": _ID}}},
    }
    for resource in all_resources():
        schemas[_schema_name(resource)] = _record_schema(resource)
    paths: dict = {}
    for route in ROUTES:
        ops = _resource_ops(route, schemas) if route.resource is not None else _custom_ops(route)
        slug = route.path.strip("/").replace("/", "_").replace("{", "").replace("}", "").replace(".", "_")
        for method, op in ops.items():
            op["tags"] = [route.tag]
            op["operationId"] = f"{method}_{slug}"
            if route.public:
                op["security"] = []
        params = [{"name": p, "in": "path", "required": True, "schema": _ID if p == "id" else {"type": "string"}}
                  for p in route.path_params]
        if params:
            ops["parameters"] = params
        paths[doc_path(route.path)] = ops
    paths["/api/openapi.json"]["get"]["responses"]["304"] = {
        "description": "Not modified: If-None-Match named the current ETag"}
    return {
        "openapi": "3.1.0",
        "info": {"title": "OpsGrat Serverless API", "version": "1.0.0",
                 "description": "OpsGrat-compatible REST API. Send `Authorization: Token <40 hex>`. Errors are "
                                "`{\"detail\": \"<field>: <message>\"}`; a method a path does not serve is a 405 "
                                f"with `Allow`; request bodies hold at most {limits.MAX_BODY_BYTES:,} bytes (413), "
                                f"JSON nested at most {limits.MAX_DEPTH} levels, integers within "
                                f"±{limits.INT_MAX}."},
        "servers": [{"url": server_url}],
        "security": [{"token": []}],
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": {
            "token": {"type": "apiKey", "in": "header", "name": "Authorization",
                      "description": "`Token <40 hex characters>`"}}},
    }


_SERVED: dict = {}


def _served() -> tuple[str, str]:
    """The document as served and its ETag, built once per process (it only changes with the code)."""
    if not _SERVED:
        body = json.dumps(build_document(), separators=(",", ":"))
        _SERVED.update(body=body, etag='"' + hashlib.sha256(body.encode()).hexdigest()[:32] + '"')
    return _SERVED["body"], _SERVED["etag"]


def _openapi(request, principal):
    """Served with an ETag; a client that sends it back in If-None-Match gets 304 and no body
    (the CLI caches the document and revalidates it on each run)."""
    body, etag = _served()
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    wanted = {tag.strip() for tag in (request.headers.get("if-none-match") or "").split(",")}
    if etag in wanted or "*" in wanted:
        return Response(body="", status_code=304, headers=headers)
    return Response(body=body, status_code=200, headers={"Content-Type": "application/json", **headers})


endpoint(bp, "/api/openapi.json", {"GET": _openapi}, tag="api", public=True,
         docs={"GET": {"summary": "This OpenAPI 3.1 document (with an ETag; If-None-Match → 304)",
                       "response": {"type": "object", "required": ["openapi", "paths"]}}})
