"""The acci.testing helpers that generated tests of multi-aggregate commands, policies and
deadlines call, used here the way generated tests use them (module-level tables), plus cases that
must fail."""

from __future__ import annotations

from datetime import timedelta

import pytest
from acci import PostgresEventStore
from acci.testing import (
    DeadlineCase,
    MultiScenario,
    PolicyCase,
    Scenario,
    deadline_test,
    policy_test,
    scenario_test,
)

from tests.runtime.shop import HANDLERS, REGISTRY, STREAMS, Fulfilment, StrictFulfilment

_NORTH = {"WarehouseOpened": {"warehouse_id": "north"}}
_SOUTH = {"WarehouseOpened": {"warehouse_id": "south"}}
_TEA = {"StockAdded": {"warehouse_id": "north", "sku": "TEA", "quantity": 5}}
_MOVE = {"MoveStock": {"from_warehouse_id": "north", "to_warehouse_id": "south", "sku": "TEA", "quantity": 2}}
_PLACED = {"OrderPlaced": {"order_id": "o1", "warehouse_id": "north", "sku": "TEA", "quantity": 2}}
_RESERVE = {"ReserveStock": {"warehouse_id": "north", "order_id": "o1", "sku": "TEA", "quantity": 2}}
_RELEASE = {"ReleaseReservation": {"warehouse_id": "north", "order_id": "o1"}}
_RESERVED = {"StockReserved": {"warehouse_id": "north", "order_id": "o1", "sku": "TEA", "quantity": 2}}

test_scenario = scenario_test(
    REGISTRY,
    HANDLERS,
    [
        Scenario("open_warehouse", when={"OpenWarehouse": {"warehouse_id": "north"}}, then=[_NORTH]),
        MultiScenario(
            "move_stock",
            given={"source": [_NORTH, _TEA], "target": [_SOUTH]},
            when=_MOVE,
            then={
                "source": [
                    {
                        "StockMovedOut": {
                            "warehouse_id": "north",
                            "sku": "TEA",
                            "quantity": 2,
                            "to_warehouse_id": "south",
                        }
                    }
                ],
                "target": [
                    {
                        "StockMovedIn": {
                            "warehouse_id": "south",
                            "sku": "TEA",
                            "quantity": 2,
                            "from_warehouse_id": "north",
                        }
                    }
                ],
            },
        ),
        MultiScenario(
            "move_too_much",
            given={"source": [_NORTH], "target": [_SOUTH]},
            when=_MOVE,
            error="insufficient_stock",
        ),
        MultiScenario("move_to_nowhere", given={"source": [_NORTH, _TEA]}, when=_MOVE, error="not_found"),
        MultiScenario(
            "move_within_one_warehouse",
            given={"source": [_NORTH, _TEA]},
            when={"MoveStock": {**_MOVE["MoveStock"], "to_warehouse_id": "north"}},
            error="same_aggregate",
        ),
        MultiScenario("move_nothing_valid", when={"MoveStock": {"sku": "TEA"}}, error="invalid"),
    ],
)

test_policy = policy_test(
    REGISTRY,
    STREAMS,
    [
        PolicyCase("reserve", Fulfilment(), given=[_NORTH, _TEA], when=_PLACED, then=[_RESERVE]),
        PolicyCase(
            "cancel_when_out_of_stock",
            Fulfilment(),
            given=[_NORTH],
            when=_PLACED,
            then=[_RESERVE, {"CancelOrder": {"order_id": "o1", "reason": "out of stock"}}],
        ),
        PolicyCase(
            "park_when_out_of_stock",
            StrictFulfilment(),
            given=[_NORTH],
            when=_PLACED,
            then=[_RESERVE],
            parked=True,
        ),
        PolicyCase(
            "nothing_for_an_empty_order",
            Fulfilment(),
            given=[_NORTH],
            when={"OrderPlaced": {**_PLACED["OrderPlaced"], "quantity": 0}},
        ),
        PolicyCase(
            "shipping_sends_nothing",
            Fulfilment(),
            given=[_NORTH, _TEA, _PLACED],
            when={"OrderShipped": {"order_id": "o1"}},
        ),
    ],
)

test_deadline = deadline_test(
    REGISTRY,
    STREAMS,
    [
        DeadlineCase(
            "release_when_due",
            Fulfilment(),
            given=[_NORTH, _TEA, _PLACED],
            elapse=timedelta(minutes=15),
            then=[_RELEASE],
        ),
        DeadlineCase(
            "not_yet_due", Fulfilment(), given=[_NORTH, _TEA, _PLACED], elapse=timedelta(minutes=14)
        ),
        DeadlineCase(
            "cancelled_by_shipping",
            Fulfilment(),
            given=[_NORTH, _TEA, _PLACED, {"OrderShipped": {"order_id": "o1"}}],
            elapse=timedelta(hours=1),
        ),
    ],
)


async def test_a_scenario_with_other_events_fails(postgres_store: PostgresEventStore) -> None:
    wrong = MultiScenario(
        "wrong",
        given={"source": [_NORTH, _TEA], "target": [_SOUTH]},
        when=_MOVE,
        then={"source": [_RESERVED]},
    )
    with pytest.raises(AssertionError):
        await test_scenario(postgres_store, wrong)


async def test_a_multi_aggregate_command_needs_a_multi_scenario(postgres_store: PostgresEventStore) -> None:
    with pytest.raises(pytest.fail.Exception, match="takes a MultiScenario"):
        await test_scenario(postgres_store, Scenario("plain", when=_MOVE))


async def test_a_policy_case_with_other_commands_fails(postgres_store: PostgresEventStore) -> None:
    with pytest.raises(AssertionError):
        await test_policy(
            postgres_store, PolicyCase("wrong", Fulfilment(), given=[_NORTH, _TEA], when=_PLACED)
        )


async def test_an_unexpected_dead_letter_fails_with_its_error(postgres_store: PostgresEventStore) -> None:
    case = PolicyCase("strict", StrictFulfilment(), given=[_NORTH], when=_PLACED, then=[_RESERVE])
    with pytest.raises(pytest.fail.Exception, match="not enough TEA in north"):
        await test_policy(postgres_store, case)


async def test_a_deadline_case_with_other_commands_fails(postgres_store: PostgresEventStore) -> None:
    case = DeadlineCase(
        "early", Fulfilment(), given=[_NORTH, _TEA, _PLACED], elapse=timedelta(minutes=1), then=[_RELEASE]
    )
    with pytest.raises(AssertionError):
        await test_deadline(postgres_store, case)
