from __future__ import annotations

import json

import pytest
from openrtc_router_metadata import route_by_metadata

from openrtc.strategies import RouteRequest, RoutingError

AGENTS = ("dental", "restaurant")


def request(job: str = "", room: str = "") -> RouteRequest:
    return RouteRequest(
        job_id="J", room_name="r", job_metadata=job, room_metadata=room, agents=AGENTS
    )


@pytest.mark.parametrize(
    ("job", "room", "expected"),
    [
        (json.dumps({"agent": "dental", "demo": "restaurant"}), "", "dental"),
        (json.dumps({"demo": "restaurant"}), json.dumps({"agent": "dental"}), "restaurant"),
        ("", json.dumps({"agent": "dental", "demo": "restaurant"}), "dental"),
        ("", json.dumps({"demo": "restaurant"}), "restaurant"),
        (json.dumps({"other": 1}), json.dumps({"agent": "dental"}), "dental"),
        ("not json", json.dumps({"agent": "restaurant"}), "restaurant"),
        ("[1, 2]", "", None),
        ("", "", None),
        ("   ", "null", None),
    ],
)
def test_precedence_and_tolerated_metadata(job: str, room: str, expected: str | None) -> None:
    assert route_by_metadata(request(job, room)) == expected


def test_unregistered_names_are_returned_for_the_kernel_to_decline() -> None:
    assert route_by_metadata(request(json.dumps({"agent": "dentl"}))) == "dentl"


@pytest.mark.parametrize("value", [7, None, ["dental"], {"name": "dental"}])
def test_non_string_value_is_a_clear_error(value: object) -> None:
    with pytest.raises(RoutingError, match="job metadata key 'agent' must be an agent name"):
        route_by_metadata(request(json.dumps({"agent": value})))
