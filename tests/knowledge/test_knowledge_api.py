"""``/api/v1/knowledge`` through a served instance with role tokens: search, postmortems by
hand, edits and deletion; who may do what (401/403), and 422s that name the field."""

from __future__ import annotations

from typing import Any

from tests.support.api_auth import APPROVER, VIEWER, bearer, serve

POSTMORTEM: dict[str, Any] = {
    "title": "Checkout outage of 2026-11-02",
    "alertname": "KubePodCrashLooping",
    "labels": {"namespace": "shop", "pod": "checkout-7d9f8b6c5-x2x4q", "container": "app"},
    "body": "## Timeline\n- 10:02 redis-cache rolled out with a new selector\n",
    "rootCause": "the redis-cache Service selector matched no pods after the rollout",
    "fix": "kubectl rollout undo deployment/redis-cache -n shop",
}


async def test_postmortems_are_written_searched_edited_and_deleted(database_url: str) -> None:
    async with serve(database_url) as server:
        client = server.client
        added = await client.post("/api/v1/knowledge", json=POSTMORTEM, headers=bearer(APPROVER))
        assert added.status_code == 201, added.text
        entry = added.json()
        assert entry["kind"] == "postmortem"
        assert entry["workload"] == "checkout"  # the pod's Deployment
        assert entry["namespace"] == "shop"
        assert entry["container"] == "app"
        assert entry["correct"] == "yes"
        assert entry["feedbackBy"] == "sre-lead"  # the token's name

        viewer = bearer(VIEWER)
        found = (await client.get("/api/v1/knowledge?q=selector rollout", headers=viewer)).json()
        assert [item["id"] for item in found["items"]] == [entry["id"]]
        assert 0 < found["items"][0]["score"] < 1
        missing = await client.get("/api/v1/knowledge?q=selector quota", headers=viewer)
        assert missing.json()["total"] == 0  # every word must match
        every = (await client.get("/api/v1/knowledge", headers=viewer)).json()
        assert every["total"] == 1

        path = f"/api/v1/knowledge/{entry['id']}"
        patched = await client.patch(
            path,
            json={"correct": "no", "notes": "it was the NetworkPolicy"},
            headers=bearer(APPROVER),
        )
        assert patched.status_code == 200, patched.text
        assert patched.json()["correct"] == "no"
        assert patched.json()["notes"] == "it was the NetworkPolicy"
        assert patched.json()["rootCause"] == POSTMORTEM["rootCause"]

        replaced = await client.put(
            path,
            json={
                **POSTMORTEM,
                "rootCause": "a NetworkPolicy denied egress to redis",
                "labels": {},
            },
            headers=bearer(APPROVER),
        )
        assert replaced.status_code == 200, replaced.text
        assert replaced.json()["workload"] is None
        hits = (await client.get("/api/v1/knowledge?q=NetworkPolicy egress", headers=viewer)).json()
        assert hits["total"] == 1

        assert (await client.delete(path, headers=bearer(APPROVER))).status_code == 204
        assert (await client.get(path, headers=viewer)).status_code == 404
        assert (await client.delete(path, headers=bearer(APPROVER))).status_code == 404


async def test_reading_needs_a_viewer_and_changing_an_approver(database_url: str) -> None:
    async with serve(database_url) as server:
        client = server.client
        assert (await client.get("/api/v1/knowledge")).status_code == 401
        refused = await client.post("/api/v1/knowledge", json=POSTMORTEM, headers=bearer(VIEWER))
        assert refused.status_code == 403
        assert (await client.get("/api/v1/knowledge", headers=bearer(VIEWER))).json()["total"] == 0
        some = "/api/v1/knowledge/00000000-0000-0000-0000-000000000001"
        for method in ("PATCH", "PUT", "DELETE"):
            body = POSTMORTEM if method == "PUT" else {"notes": "x"}
            if method == "DELETE":
                response = await client.delete(some, headers=bearer(VIEWER))
            else:
                response = await client.request(method, some, json=body, headers=bearer(VIEWER))
            assert response.status_code == 403, method
        missing = await client.patch(some, json={"notes": "x"}, headers=bearer(APPROVER))
        assert missing.status_code == 404


async def test_bodies_are_checked_and_refusals_name_the_field(database_url: str) -> None:
    async with serve(database_url) as server:
        client, approver = server.client, bearer(APPROVER)

        async def refused(method: str, path: str, body: Any) -> list[list[Any]]:
            response = await client.request(method, path, json=body, headers=approver)
            assert response.status_code == 422, response.text
            return [error["loc"] for error in response.json()["detail"]]

        base = "/api/v1/knowledge"
        assert ["body", "rootCause"] in await refused("POST", base, {"title": "t"})
        assert ["body", "rootCaus"] in await refused(
            "POST", base, {**POSTMORTEM, "rootCaus": "typo"}
        )
        assert ["body", "title"] in await refused("POST", base, {**POSTMORTEM, "title": ""})
        assert ["body", "labels", "namespace"] in await refused(
            "POST", base, {**POSTMORTEM, "labels": {"namespace": 3}}
        )
        added = (await client.post(base, json=POSTMORTEM, headers=approver)).json()
        path = f"{base}/{added['id']}"
        assert ["body", "correct"] in await refused("PATCH", path, {"correct": "maybe"})
        assert ["body", "kind"] in await refused("PATCH", path, {"kind": "investigation"})
        unchanged = await client.patch(path, json={}, headers=approver)
        assert unchanged.status_code == 200
        assert unchanged.json()["updatedAt"] == added["updatedAt"]
        assert (await client.get(f"{base}?limit=0", headers=approver)).status_code == 422
