"""Slack events are acknowledged once stored, and their turns run after: in order per person,
once each, and replayed if the process that acknowledged them died before the turn."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from adapters.host.server import SLACK
from adapters.jobs.inbox import EventInbox
from bot.service import utcnow
from storage.models import InboxRow, ProcessedEventRow
from tests.conftest import all_ideas
from tests.slack_harness import AUTHOR, SlackDriver, payload

DM = f"D{AUTHOR}"


def inbox_of(slack: SlackDriver) -> EventInbox:
    return slack.client.app[SLACK].inbox


async def count(slack: SlackDriver, model: type) -> int:
    async with slack.runtime.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


def questions(slack: SlackDriver, text: str) -> int:
    return sum(text in (call.params.get("text") or "") for call in slack.posts_to(DM))


async def test_the_ack_stores_the_event_and_a_dead_workers_event_is_replayed_once(
    slack: SlackDriver,
) -> None:
    inbox = inbox_of(slack)
    await inbox.stop()  # acknowledged, then the process "dies" before the turn runs
    assert await slack.dm("/kaizen", event_id="EvCRASH1", wait=False) == 200
    assert await count(slack, InboxRow) == 1
    async with slack.runtime.sessions() as session:
        stored = await session.scalar(select(InboxRow.body))
    assert stored["event"]["text"] == "/kaizen" and "token" not in stored  # no secrets kept
    assert await count(slack, ProcessedEventRow) == 0  # no turn has run

    inbox.left_behind = timedelta(0)  # a sweep a minute later, here or in another process
    assert await inbox.sweep() == 1
    inbox.start()
    await slack.idle()
    await slack.wait_for(lambda: questions(slack, "Question 1 of 3") == 1)
    assert await count(slack, InboxRow) == 0
    assert await count(slack, ProcessedEventRow) == 1
    assert await inbox.sweep() == 0

    # A row whose turn had finished but was not yet cleared when its worker died: the
    # replay is dropped by the turn's event-id dedupe, nobody hears the question twice.
    async with slack.runtime.unit_of_work() as uow:
        body = {**payload("event_message_im"), "event_id": "EvCRASH1"}
        await uow.inbox.add("slack", "EvCRASH1", "message", f"T0001:{AUTHOR}", body, utcnow())
        await uow.commit()
    assert await inbox.sweep() == 1
    await slack.idle()
    assert questions(slack, "Question 1 of 3") == 1
    assert await count(slack, InboxRow) == 0


async def test_a_retry_of_an_event_still_waiting_is_stored_once(slack: SlackDriver) -> None:
    await inbox_of(slack).stop()
    assert await slack.dm("/kaizen", event_id="EvTWICE", wait=False) == 200
    assert await slack.dm("/kaizen", event_id="EvTWICE", wait=False,
                          headers={"X-Slack-Retry-Num": "1",
                                   "X-Slack-Retry-Reason": "http_timeout"}) == 200
    assert await count(slack, InboxRow) == 1


async def test_answers_acknowledged_back_to_back_land_in_the_order_they_were_sent(
    slack: SlackDriver,
) -> None:
    await slack.dm("/kaizen")
    for answer in ("paper forms", "forms get lost", "a shared sheet"):  # acks only
        assert await slack.dm(answer, wait=False) == 200
    await slack.idle()
    [idea] = await all_ideas(slack.runtime)
    assert (idea.standard, idea.problem, idea.proposal) == (
        "paper forms", "forms get lost", "a shared sheet")


async def test_an_event_too_old_to_act_on_is_dropped_with_a_warning(
    slack: SlackDriver, caplog: pytest.LogCaptureFixture,
) -> None:
    inbox = inbox_of(slack)
    await inbox.stop()  # no background sweep: this test's sweep is the one that finds it
    async with slack.runtime.unit_of_work() as uow:
        body = {**payload("event_message_im"), "event_id": "EvSTALE"}
        await uow.inbox.add("slack", "EvSTALE", "message", f"T0001:{AUTHOR}", body,
                            utcnow() - inbox.too_old - timedelta(minutes=1))
        await uow.commit()
    with caplog.at_level(logging.WARNING, logger="adapters.jobs.inbox"):
        assert await inbox.sweep() == 0
    assert "dropped 1 events older than" in caplog.text
    assert await count(slack, InboxRow) == 0
    assert await count(slack, ProcessedEventRow) == 0


async def test_a_flood_waits_in_the_table_and_memory_holds_only_a_few(
    slack: SlackDriver,
) -> None:
    """Beyond ``in_memory`` events the rest wait in the table and are fetched in order as the
    workers catch up: three people's captures interleaved all come out right."""
    inbox = inbox_of(slack)
    inbox.in_memory = 2
    turns_may_run = asyncio.Event()  # turns wait while the acks pile up: a flood
    process = inbox._process

    async def held_back(kind: str, body: dict) -> None:  # type: ignore[type-arg]
        await turns_may_run.wait()
        await process(kind, body)

    inbox._process = held_back  # type: ignore[method-assign]
    people = ["U0FLOOD1", "U0FLOOD2", "U0FLOOD3"]
    held, waiting = [], []
    for answer in ("/kaizen", "standard {n}", "problem {n}", "proposal {n}"):
        for n, person in enumerate(people):
            assert await slack.dm(answer.format(n=n), user=person, wait=False) == 200
            held.append(len(inbox._in_hand))
            waiting.append(len(inbox._spilled))
    turns_may_run.set()
    await slack.idle()
    assert max(held) <= 2 and max(waiting) == 10  # the rest waited in the table only
    ideas = sorted(await all_ideas(slack.runtime), key=lambda idea: idea.proposal)
    assert [(i.standard, i.problem, i.proposal) for i in ideas] == [
        (f"standard {n}", f"problem {n}", f"proposal {n}") for n in range(3)]
    assert await count(slack, InboxRow) == 0
