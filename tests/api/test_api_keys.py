"""`/api/api-keys`: user tokens manage the organisation's keys; the plain key is shown once, stored
hashed with a visible prefix, and regenerating stops the old secret at once."""

from __future__ import annotations

from gatewayd.services.oauth_grants import SCOPE_BYOS, SCOPE_MOBILE
from tests.api.conftest import World
from tests.api.contract import ApiClient
from tests.api.two_orgs import oauth_tokens


async def test_create_use_update_regenerate_delete(api: ApiClient, world: World) -> None:
    token = world.seeded.acme_token
    created = await api.call("POST", "/api/api-keys", token,
                             json={"name": "CI", "permissions": ["numbers.read"], "ignored": True})
    assert created.status == 201
    plain = created.body["plain_text_key"]
    key = created.body["api_key"]
    assert plain.startswith("sk_live_") and key["key_prefix"] == plain[:12]
    assert (key["name"], key["permissions"], key["last_used_at"]) == ("CI", ["numbers.read"], None)
    assert (await api.get("/api/sims", plain)).status == 200
    assert (await api.get(f"/api/sims/{world.seeded.acme_sim}/messages", plain)).status == 403
    path = f"/api/api-keys/{key['id']}"
    shown = await api.get(path, token)
    assert shown.body["last_used_at"] is not None and plain not in str(shown.body)

    patched = await api.call("PATCH", path, token, json={"permissions": ["messages.read", "numbers.read"]})
    assert patched.body["permissions"] == ["numbers.read", "messages.read"]  # enum order, deduplicated
    assert patched.body["name"] == "CI"
    put = await api.call("PUT", path, token, json={"name": "CI runner"})
    assert (put.body["name"], put.body["permissions"]) == ("CI runner", ["numbers.read", "messages.read"])
    assert (await api.get(f"/api/sims/{world.seeded.acme_sim}/messages", plain)).status == 200

    regenerated = await api.call("POST", path + "/regenerate", token)
    new_plain = regenerated.body["plain_text_key"]
    assert new_plain != plain and regenerated.body["api_key"]["key_prefix"] == new_plain[:12]
    assert (await api.get("/api/sims", plain)).status == 401
    assert (await api.get("/api/sims", new_plain)).status == 200

    assert (await api.call("DELETE", path, token)).status == 200
    assert (await api.get("/api/sims", new_plain)).status == 401
    assert (await api.get(path, token)).status == 404


async def test_list_shows_the_organisations_keys_only(api: ApiClient, world: World) -> None:
    listed = await api.get("/api/api-keys", world.seeded.acme_token)
    assert listed.status == 200
    # The three seeded acme keys; globex's key is not there.
    assert sorted(key["permissions"][0] for key in listed.body["data"]) == [
        "messages.read", "numbers.read", "numbers.read"]


async def test_an_api_key_may_not_manage_keys(api: ApiClient, world: World) -> None:
    reply = await api.get("/api/api-keys", world.seeded.acme_key)
    assert reply.status == 403
    assert "API keys are not accepted" in reply.body["message"]


async def test_invalid_bodies_name_the_field(api: ApiClient, world: World) -> None:
    token = world.seeded.acme_token
    cases = [({"permissions": ["numbers.read"]}, "name"), ({"name": "x"}, "permissions"),
             ({"name": "x", "permissions": []}, "permissions"),
             ({"name": "x", "permissions": ["numbers.read", "admin"]}, "permissions.1"),
             ({"name": "x" * 256, "permissions": ["numbers.read"]}, "name")]
    for body, field in cases:
        reply = await api.call("POST", "/api/api-keys", token, json=body)
        assert reply.status == 422 and field in reply.body["errors"], (body, reply.body)


async def test_an_oauth_token_grants_an_api_key_no_more_than_its_scopes(api: ApiClient, world: World) -> None:
    """A phone's `byos` token (consented to as "register this phone") must not mint a key that reads the
    organisation's messages; a `mobile:device` token may hand on what it holds and nothing else."""
    byos, _, _ = await oauth_tokens(world.services, "owner@acme.example", SCOPE_BYOS)
    mobile, _, _ = await oauth_tokens(world.services, "owner@acme.example", SCOPE_MOBILE)
    for permissions in (["numbers.read"], ["webhooks.receive"]):
        refused = await api.call("POST", "/api/api-keys", byos,
                                 json={"name": "x", "permissions": permissions})
        assert refused.status == 403 and permissions[0] in refused.body["message"]
    assert (await api.call("POST", "/api/api-keys", mobile,
                           json={"name": "x", "permissions": ["webhooks.receive"]})).status == 403
    made = await api.call("POST", "/api/api-keys", mobile,
                          json={"name": "reader", "permissions": ["numbers.read", "messages.read"]})
    assert made.status == 201
    path = f"/api/api-keys/{made.body['api_key']['id']}"
    # Widening is refused; narrowing and renaming are not escalations.
    widened = await api.call("PATCH", path, mobile,
                             json={"permissions": ["numbers.read", "webhooks.receive"]})
    assert widened.status == 403
    assert (await api.call("PATCH", path, mobile, json={"permissions": ["numbers.read"]})).status == 200
    assert (await api.call("PUT", path, byos, json={"name": "renamed"})).status == 200
    # A new secret of a key is all of its power: regenerating one needs every permission it carries.
    assert (await api.call("POST", path + "/regenerate", byos)).status == 403
    assert (await api.call("POST", path + "/regenerate", mobile)).status == 200
    powerful = await api.call("POST", "/api/api-keys", world.seeded.acme_token,
                              json={"name": "hooks", "permissions": ["webhooks.receive"]})
    hooks = f"/api/api-keys/{powerful.body['api_key']['id']}"
    assert (await api.call("POST", hooks + "/regenerate", mobile)).status == 403
    assert (await api.call("POST", hooks + "/regenerate", world.seeded.acme_token)).status == 200
    shown = await api.get(hooks, world.seeded.acme_token)
    assert shown.body["permissions"] == ["webhooks.receive"]  # nothing a refusal touched changed
