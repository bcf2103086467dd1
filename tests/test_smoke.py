def test_ping_needs_no_token(anon):
    r = anon.get("/api/ping/")
    assert r.status_code == 200
    assert r.data == {"status": "ok"}


def test_team_crud(api):
    r = api.post("/api/system/team/", {"name": "ops", "description": "Ops team"})
    assert r.status_code == 201, r.body
    tid = r.data["id"]
    r = api.get(f"/api/system/team/{tid}/")
    assert r.data["name"] == "ops"
    assert r.data["users"] == []
    r = api.get("/api/system/team/")
    assert r.data["count"] == 1
