"""The generic HTTP face of a declared resource: the collection and item routes of spec §1.8."""
from __future__ import annotations

from chalice import Blueprint

from chalicelib.api.http import Handler, endpoint, page, parse_body, query_params
from chalicelib.services import crud
from chalicelib.services.resources import Resource


def _as_list(value) -> list:
    if value in (None, ""):
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, str):
        return [p for p in value.split(",") if p.strip()]
    return [value]


def _bulk_ids(request, body: dict) -> list:
    """`pk` (comma list) and/or `pk[]` (array): from the body as the spec says, else the query."""
    ids = _as_list(body.get("pk")) + _as_list(body.get("pk[]"))
    if not ids and request.query_params:
        qp = request.query_params
        ids = _as_list(qp.get("pk")) + (qp.getlist("pk[]") if "pk[]" in qp else [])
    return ids


def list_view(resource: Resource):
    """GET on a collection: one page of what the caller may read."""

    def list_(request, principal):
        q = crud.parse_list_query(resource, query_params(request))
        count, rows = crud.list_records(principal, resource, q)
        return page(request, count, q.offset, q.limit, rows), 200

    return list_


def retrieve_view(resource: Resource):
    """GET on an item."""

    def retrieve(request, principal, id):
        return crud.retrieve(principal, resource, id), 200

    return retrieve


def expose(bp: Blueprint, resource: Resource, create: Handler | None = None) -> None:
    """Register `<path>/` and `<path>/{id}/` for a resource on a blueprint. `create` replaces the
    generic POST for families whose records a service creates (jobs are launched, not stored)."""

    def generic_create(request, principal):
        return crud.create(principal, resource, parse_body(request)), 201

    def bulk_delete(request, principal):
        deleted = crud.bulk_destroy(principal, resource, _bulk_ids(request, parse_body(request)))
        return {"deleted": deleted}, 200

    def put(request, principal, id):
        return crud.update(principal, resource, id, parse_body(request), partial=False), 200

    def patch(request, principal, id):
        return crud.update(principal, resource, id, parse_body(request), partial=True), 200

    def delete(request, principal, id):
        crud.destroy(principal, resource, id)
        return None, 204

    collection = {"GET": list_view(resource)}
    item = {"GET": retrieve_view(resource)}
    if not resource.read_only:
        collection.update({"POST": create or generic_create, "DELETE": bulk_delete})
        item["DELETE"] = delete
        if resource.updatable:
            item.update({"PUT": put, "PATCH": patch})
    endpoint(bp, resource.path, collection, tag=resource.tag, resource=resource, kind="collection")
    endpoint(bp, resource.path + "/{id}", item, tag=resource.tag, resource=resource, kind="item")
