def test_rbac_flow(api, make_user):
    alice, as_alice = make_user("alice")
    bob, as_bob = make_user("bob")
    r = as_alice.post("/api/project/inventory/", {"name": "prod", "variables": "a: 1"})
    assert r.status_code == 201, r.body
    inv = r.data["id"]
    assert as_bob.get(f"/api/project/inventory/{inv}/").status_code == 403
    assert as_bob.get("/api/project/inventory/").data["count"] == 0
    assert as_alice.get("/api/project/inventory/").data["count"] == 1
    team = api.post("/api/system/team/", {"name": "t"}).data["id"]
    r = api.post("/api/system/team/users/", {"username": bob["id"], "team": team})
    assert r.status_code == 201, r.body
    r = as_alice.post("/api/project/inventory/empowered/teams/", {"team": team, "data": inv, "permission": "read"})
    assert r.status_code == 201, r.body
    print(r.data)
    assert as_bob.get(f"/api/project/inventory/{inv}/").status_code == 200
    assert as_bob.patch(f"/api/project/inventory/{inv}/", {"name": "x"}).status_code == 403
    print(api.get("/api/system/team/").data)
    print(api.get("/api/project/inventory/authorized/users/").data)
    r = api.post("/api/project/inventory/", {"name": "bad", "variables": "a: [1"})
    print(r.status_code, r.data)
