"""`GET /api/openapi.json`: an OpenAPI 3.1 document built from the routing table and the
resource declarations that drive the handlers, so it lists exactly what is served."""
from __future__ import annotations

from chalice import Blueprint

from chalicelib.api.http import ROUTES, RouteDoc, endpoint
from chalicelib.services.crud import MAX_LIMIT, DEFAULT_LIMIT
from chalicelib.services.resources import Resource

bp = Blueprint(__name__)

_ERROR = {"$ref": "#/components/schemas/Error"}


def _schema_name(resource: Resource) -> str:
    return "".join(part.capitalize() for part in resource.family.replace(".", "_").split("_"))


def _record_schema(resource: Resource) -> dict:
    props: dict = {"id": {"type": "integer", "readOnly": True}}
    for f in resource.fields:
        if f.hidden:
            continue
        props[f.name] = f.openapi()
    for label in resource.labels:
        props[label.name] = label.openapi()
    props.update({name: {"readOnly": True} for name in resource.extra_fields})
    return {"type": "object", "properties": props, "description": resource.description or resource.title}


def _input_schema(resource: Resource, partial: bool) -> dict:
    props = {}
    for f in resource.writable:
        props[f.name] = f.openapi()
    out: dict = {"type": "object", "properties": props}
    required = [f.name for f in resource.writable if f.required]
    if required and not partial:
        out["required"] = required
    return out


def _list_params(resource: Resource) -> list[dict]:
    params = [
        {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}, "description": "Start position."},
        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
         "description": f"Page size (default {DEFAULT_LIMIT}, max {MAX_LIMIT})."},
        {"name": "ordering", "in": "query", "schema": {"type": "string"},
         "description": "Comma-separated fields, '-' for descending: " + ", ".join(["id", *resource.ordering])},
    ]
    if resource.search:
        params.append({"name": "search", "in": "query", "schema": {"type": "string"},
                       "description": "Case-insensitive substring over " + ", ".join(resource.search)})
    for name in resource.filters:
        params.append({"name": name, "in": "query", "schema": {"type": "string"}, "description": "Exact match."})
    return params


#: headers that always come with an error status (`ServiceError.headers`)
_ERROR_HEADERS = {
    "401": {"WWW-Authenticate": {"description": "The scheme to use: `Token`", "schema": {"type": "string"}}},
    "429": {"Retry-After": {"description": "Seconds to wait before trying again",
                            "schema": {"type": "integer", "minimum": 1}}},
}


def _responses(status: int, schema: dict | None, description: str = "OK",
               errors: dict[int, str] | None = None) -> dict:
    """The success response and the errors every route may answer, plus a route's own `errors`
    (status -> description)."""
    ok: dict = {"description": description}
    if schema is not None:
        ok["content"] = {"application/json": {"schema": schema}}
    out = {str(status): ok}
    common = {"400": "Invalid input", "401": "Not authenticated", "403": "No permission", "404": "Not found",
              "405": "Method not allowed"}
    for code, text in {**common, **{str(k): v for k, v in (errors or {}).items()}}.items():
        out[code] = {"description": text, "content": {"application/json": {"schema": _ERROR}}}
        if code in _ERROR_HEADERS:
            out[code]["headers"] = _ERROR_HEADERS[code]
    return out


def _body(schema: dict) -> dict:
    return {"required": True, "content": {"application/json": {"schema": schema},
                                          "application/x-www-form-urlencoded": {"schema": schema}}}


def _resource_ops(route: RouteDoc, schemas: dict) -> dict:
    resource: Resource = route.resource
    name = _schema_name(resource)
    schemas[name] = _record_schema(resource)
    schemas[name + "Input"] = _input_schema(resource, partial=False)
    schemas[name + "Patch"] = _input_schema(resource, partial=True)
    ref = {"$ref": f"#/components/schemas/{name}"}
    ops: dict = {}
    title = resource.title
    if route.kind == "collection":
        page = {"type": "object", "required": ["count", "next", "previous", "results"], "properties": {
            "count": {"type": "integer"}, "next": {"type": ["string", "null"]},
            "previous": {"type": ["string", "null"]}, "results": {"type": "array", "items": ref}}}
        ops["get"] = {"summary": f"List {title}", "parameters": _list_params(resource), "responses": _responses(200, page)}
        if "POST" in route.methods:
            ops["post"] = {"summary": f"Create ({title})", "requestBody": _body({"$ref": f"#/components/schemas/{name}Input"}),
                           "responses": _responses(201, ref, "Created")}
            ops["delete"] = {"summary": f"Bulk delete ({title}): pk=1,2 or pk[]=1&pk[]=2 in the body",
                             "requestBody": _body({"$ref": "#/components/schemas/BulkDelete"}),
                             "responses": _responses(200, {"$ref": "#/components/schemas/Deleted"})}
    else:
        ops["get"] = {"summary": f"Read one ({title})", "responses": _responses(200, ref)}
        if "PUT" in route.methods:
            ops["put"] = {"summary": f"Replace ({title})", "requestBody": _body({"$ref": f"#/components/schemas/{name}Input"}),
                          "responses": _responses(200, ref)}
            ops["patch"] = {"summary": f"Update some fields ({title})",
                            "requestBody": _body({"$ref": f"#/components/schemas/{name}Patch"}),
                            "responses": _responses(200, ref)}
        if "DELETE" in route.methods:
            ops["delete"] = {"summary": f"Delete ({title})", "responses": _responses(204, None, "Deleted")}
    return ops


def _custom_ops(route: RouteDoc) -> dict:
    ops = {}
    for method, doc in route.methods.items():
        op: dict = {"summary": doc.get("summary", route.path),
                    "responses": _responses(doc.get("status", 200), doc.get("response", {"type": "object"}),
                                            errors=doc.get("errors"))}
        if doc.get("request"):
            op["requestBody"] = _body(doc["request"])
        if doc.get("query"):
            op["parameters"] = doc["query"]
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
            "pk[]": {"type": "array", "items": {"type": "integer"}}}},
        "Deleted": {"type": "object", "properties": {"deleted": {"type": "array", "items": {"type": "integer"}}}},
    }
    paths: dict = {}
    for route in ROUTES:
        ops = _resource_ops(route, schemas) if route.resource is not None else _custom_ops(route)
        slug = route.path.strip("/").replace("/", "_").replace("{", "").replace("}", "").replace(".", "_")
        for method, op in ops.items():
            op["tags"] = [route.tag]
            op["operationId"] = f"{method}_{slug}"
            if route.public:
                op["security"] = []
        params = [{"name": p, "in": "path", "required": True, "schema": {"type": "integer" if p == "id" else "string"}}
                  for p in route.path_params]
        if params:
            ops["parameters"] = params
        paths[doc_path(route.path)] = ops
    return {
        "openapi": "3.1.0",
        "info": {"title": "OpsGrat Serverless API", "version": "1.0.0",
                 "description": "OpsGrat-compatible REST API. Send `Authorization: Token <40 hex>`."},
        "servers": [{"url": server_url}],
        "security": [{"token": []}],
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": {
            "token": {"type": "apiKey", "in": "header", "name": "Authorization",
                      "description": "`Token <40 hex characters>`"}}},
    }


def _openapi(request, principal):
    return build_document(), 200


endpoint(bp, "/api/openapi.json", {"GET": _openapi}, tag="api", public=True,
         docs={"GET": {"summary": "This OpenAPI 3.1 document"}})
