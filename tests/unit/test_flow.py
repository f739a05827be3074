"""The pure capture state machine: no database, no adapter, controlled time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot import flow
from bot.flow import STEPS, Answer, Intent, Start, advance
from bot.model import Draft

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def run(draft: Draft | None, *actions: flow.Action) -> flow.Outcome:
    outcome = flow.Outcome(draft)
    for action in actions:
        outcome = advance(outcome.draft, action, NOW)
    return outcome


def test_steps_are_a_table_in_order() -> None:
    assert [s.name for s in STEPS] == ["standard", "problem", "proposal"]
    assert [s.next for s in STEPS] == ["problem", "proposal", None]


def test_start_asks_the_first_question() -> None:
    outcome = advance(None, Start(), NOW)
    assert outcome.draft is not None and outcome.draft.step == "standard"
    assert "Question 1 of 3: Standard" in outcome.replies[-1].text


def test_three_answers_complete_the_draft() -> None:
    outcome = run(None, Start(), Answer("we print"), Answer("slow"), Answer("use the app"))
    assert outcome.draft is None
    assert outcome.completed is not None
    assert outcome.completed.answers == {
        "standard": "we print", "problem": "slow", "proposal": "use the app"
    }


def test_one_shot_with_all_labels_completes_without_a_question() -> None:
    outcome = advance(None, Start("standard: a; problem: b; proposal: c"), NOW)
    assert outcome.completed is not None
    assert not [r for r in outcome.replies if r.kind == "question"]


def test_one_shot_with_two_labels_asks_only_the_missing_one() -> None:
    outcome = advance(None, Start("problem: b\nproposal: c"), NOW)
    assert outcome.draft is not None and outcome.draft.step == "standard"
    questions = [r for r in outcome.replies if r.kind == "question"]
    assert len(questions) == 1 and "Standard" in questions[0].text
    done = advance(outcome.draft, Answer("a"), NOW)
    assert done.completed is not None and done.completed.answers["problem"] == "b"


def test_unlabelled_text_is_the_problem() -> None:
    outcome = advance(None, Start("the printer jams #ops"), NOW)
    assert outcome.draft is not None
    assert outcome.draft.answers == {"problem": "the printer jams"}
    assert outcome.draft.area == "ops"
    assert outcome.draft.step == "standard"


def test_back_reasks_the_previous_question_and_shows_the_answer() -> None:
    outcome = run(None, Start(), Answer("we print"), Intent("back"))
    assert outcome.draft is not None and outcome.draft.step == "standard"
    assert "Your answer so far: we print" in outcome.replies[-1].text
    outcome = advance(outcome.draft, Answer("we print twice"), NOW)
    assert outcome.draft is not None and outcome.draft.step == "problem"
    assert outcome.draft.answers["standard"] == "we print twice"


def test_back_at_the_first_question_stays() -> None:
    outcome = run(None, Start(), Intent("back"))
    assert outcome.draft is not None and outcome.draft.step == "standard"
    assert "already the first question" in outcome.replies[0].text


def test_cancel_drops_the_draft_and_shows_what_was_written() -> None:
    outcome = run(None, Start(), Answer("we print"), Intent("cancel"))
    assert outcome.draft is None and outcome.completed is None
    assert "nothing was saved" in outcome.replies[0].text
    assert ("Standard", "we print") in outcome.replies[0].fields


def test_help_keeps_the_step() -> None:
    outcome = run(None, Start(), Answer("we print"), Intent("help"))
    assert outcome.draft is not None and outcome.draft.step == "problem"
    assert outcome.replies[-1].kind == "question"


def test_validation_errors_keep_earlier_answers() -> None:
    draft = run(None, Start(), Answer("we print")).draft
    for bad, says in [("   ", "can't be empty"), ("x" * 2001, "limit is 2,000"),
                      ("bad\x07", "control characters")]:
        outcome = advance(draft, Answer(bad), NOW)
        assert outcome.draft is not None
        assert outcome.draft.step == "problem"
        assert outcome.draft.answers == {"standard": "we print"}
        assert says in outcome.replies[0].text
        assert outcome.replies[-1].kind == "question"


def test_too_long_answer_is_shown_back_for_editing() -> None:
    draft = run(None, Start()).draft
    outcome = advance(draft, Answer("y" * 2500), NOW)
    assert "2,500 characters" in outcome.replies[0].text
    assert outcome.replies[0].fields[0][1].startswith("y" * 100)


def test_one_shot_with_an_invalid_value_keeps_the_valid_ones() -> None:
    outcome = advance(None, Start(f"standard: a; problem: {'z' * 2001}; proposal: c"), NOW)
    assert outcome.draft is not None
    assert outcome.draft.answers == {"standard": "a", "proposal": "c"}
    assert outcome.draft.step == "problem"


def test_starting_again_offers_continue_or_start_over() -> None:
    draft = run(None, Start(), Answer("we print")).draft
    outcome = advance(draft, Start("problem: new one"), NOW)
    assert outcome.draft is not None and outcome.draft.answers == {"standard": "we print"}
    assert [b.value for b in outcome.replies[0].buttons] == ["continue", "start over"]
    resumed = advance(outcome.draft, Intent("continue"), NOW)
    assert resumed.draft is not None and resumed.draft.step == "problem"
    assert resumed.draft.answers == {"standard": "we print"}


def test_start_over_uses_the_text_typed_with_the_new_command() -> None:
    draft = run(None, Start(), Answer("we print")).draft
    asked = advance(draft, Start("problem: new one"), NOW)
    restarted = advance(asked.draft, Intent("restart"), NOW)
    assert restarted.draft is not None
    assert restarted.draft.answers == {"problem": "new one"}
    assert ("Standard", "we print") in restarted.replies[0].fields  # old answers shown back


def test_labelled_answer_mid_flow_fills_several_fields() -> None:
    draft = run(None, Start()).draft
    outcome = advance(draft, Answer("standard: a\nproblem: b"), NOW)
    assert outcome.draft is not None and outcome.draft.step == "proposal"


def test_a_draft_expires_after_24_hours_and_shows_its_answers() -> None:
    draft = run(None, Start(), Answer("we print")).draft
    assert draft is not None
    kept, notices = flow.expire(draft, NOW + timedelta(hours=23, minutes=59))
    assert kept is draft and notices == []
    gone, notices = flow.expire(draft, NOW + timedelta(hours=24, seconds=1))
    assert gone is None
    assert "expired" in notices[0].text and ("Standard", "we print") in notices[0].fields


def test_intents_are_whole_messages_only() -> None:
    assert flow.intent_of("Cancel") == "cancel"
    assert flow.intent_of("start  over!") == "restart"
    assert flow.intent_of("cancel the meeting") is None


def test_advance_is_pure() -> None:
    draft = run(None, Start(), Answer("we print")).draft
    assert draft is not None
    before = (draft.step, dict(draft.answers))
    advance(draft, Answer("slow"), NOW)
    assert (draft.step, draft.answers) == before


def test_a_process_label_after_the_standard_is_taken_as_the_process() -> None:
    from bot.text_input import split_trailing_process

    assert split_trailing_process("Claims are printed by hand. process: Expense claims") == (
        "Claims are printed by hand.", "Expense claims")
    assert split_trailing_process("Claims are printed by hand\nProcess: Expense claims") == (
        "Claims are printed by hand", "Expense claims")
    assert split_trailing_process("our process: nobody knows it") == (
        "our process: nobody knows it", None)  # "our" is not a label: prose stays whole
    assert split_trailing_process("by hand process:") == ("by hand process:", None)
