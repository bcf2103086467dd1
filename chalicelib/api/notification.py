"""`/api/notification/...`: channel settings (DingTalk, email, WeCom), notifications and their
grants, and sending a test message."""
from __future__ import annotations

from chalice import Blueprint

from chalicelib.api.http import endpoint
from chalicelib.api.resources import expose
from chalicelib.services import crud, rbac
from chalicelib.services.catalog import notification as catalog

bp = Blueprint(__name__)

for _resource in (catalog.DINGTALK, catalog.EMAIL, catalog.WECOM, catalog.NOTIFICATIONS, catalog.NOTIFICATION_USERS,
                  catalog.NOTIFICATION_TEAMS):
    expose(bp, _resource)


def _test(request, principal, id):
    from chalicelib.services.notifications import deliver

    rec = crud.load(catalog.NOTIFICATIONS, id)
    rbac.require(principal, catalog.NOTIFICATIONS, rec, "execute")
    delivery = deliver.send_test(rec["id"])
    return {"notification": rec["id"], "ok": delivery.ok,
            "attempts": [{"ok": a.ok, "status": a.status, "error": a.detail} for a in delivery.attempts]}, 200


_TEST_RESULT = {"type": "object", "required": ["notification", "ok", "attempts"], "properties": {
    "notification": {"type": "integer"}, "ok": {"type": "boolean"},
    "attempts": {"type": "array", "items": {"type": "object", "properties": {
        "ok": {"type": "boolean"}, "status": {"type": ["integer", "null"]}, "error": {"type": "string"}}}}}}

endpoint(bp, "/api/notification/notification/{id}/test", {"POST": _test}, tag="notification",
         docs={"POST": {"summary": "Send the notification now with a sample job (needs execute on it); "
                                   "answers with the delivery result", "response": _TEST_RESULT}})
