"""Between the diff and the sender: a chunk of prospects made ready to send, and the dead letters of
earlier runs carried over.

``Outbox.flush`` takes the prospects of one diff chunk (at most 100), checks their values for typed custom
fields (a value the field's type refuses fails that field only: the rest is sent), merges their list
attributes with what the prospects hold in Outreach (``lists.py``: one read per 100 prospects), and hands
them to the sender. ``carried_over`` gives the dead letters the input did not carry, with the values they
tried to write, so a prospect that failed is retried even when the next input (a ``--follow`` input of
changes, say) does not mention it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from outreach_tui.diagnostics import Diagnostic
from outreach_tui.export.bulk import BulkSender
from outreach_tui.export.control import EXIT_AUTH, EXIT_UNREACHABLE, RunControl, RunStopped
from outreach_tui.export.lists import ListMerger
from outreach_tui.export.preflight import Checked
from outreach_tui.export.send import Sender, Work
from outreach_tui.export.state import Change, StateStore
from outreach_tui.export.tally import Tally
from outreach_tui.outreach.client import OutreachClient, OutreachUnreachable
from outreach_tui.outreach.credentials import AuthRequired, AuthUnreachable, ScopeMissing
from outreach_tui.profile import Profile


class Outbox:
    def __init__(self, profile: Profile, sender: Sender | BulkSender, client: OutreachClient, state: StateStore,
                 checked: Checked | None, tally: Tally, control: RunControl) -> None:
        self._sender = sender
        self._merger = ListMerger(profile, client, state, profile.field_origin)
        self._checked = checked or Checked()
        self._tally = tally
        self._control = control
        self._field_origin = profile.field_origin
        self._works: list[Work] = []

    def add(self, work: Work) -> None:
        self._works.append(work)

    def drop(self) -> None:
        """The run is stopping: what waits here is pending."""
        self._tally.pending += len(self._works)
        self._works = []

    async def flush(self) -> None:
        works, self._works = self._works, []
        if not works:
            return
        for work in works:
            work.rejected = self._typed_rejection(work)
        unreadable: dict[int, Diagnostic] = {}
        try:
            unreadable = await self._merger.prepare(works)
        except (AuthUnreachable, OutreachUnreachable) as exc:
            self._control.stop_with(RunStopped(EXIT_UNREACHABLE, str(exc)))
        except (AuthRequired, ScopeMissing) as exc:
            self._control.stop_with(RunStopped(EXIT_AUTH, str(exc)))
        for work in works:
            if work.prospect_id in unreadable:
                self._sender.fail(unreadable[work.prospect_id], work.attributes)
            elif self._control.stopping:
                self._tally.pending += 1
            else:
                await self._sender.put(work)

    def _typed_rejection(self, work: Work) -> Diagnostic | None:
        """The first attribute-row value a typed custom field would refuse (found before sending)."""
        for target, rule in self._checked.typed.items():
            if target not in work.attributes:
                continue
            problem = self._checked.value_problem(target, work.attributes[target])
            if problem is not None:
                return Diagnostic(
                    prospect_id=work.prospect_id, status=None, error_id="typedFieldMismatch",
                    detail=f"{target}: Outreach types it as {rule.get('type')}; {problem}", field=target,
                    origin=self._field_origin(target),
                    hint=f"Fix the value in the source data, or change {target}'s type in Outreach; the value "
                         "was not sent.")
        return None


def carried_over(state: StateStore, absent: Iterable[int], full_resync: bool) -> Iterator[Change]:
    """The dead letters among ``absent`` (not in this run's input) that stored the values they tried to
    write, diffed against the state like planned prospects (a dead letter's values are all sent)."""
    ids = sorted(absent)
    stored = state.dead_letter_values(ids)
    return state.diff(((prospect_id, stored[prospect_id]) for prospect_id in ids if prospect_id in stored),
                      full_resync=full_resync)


async def carry_over(state: StateStore, absent: Iterable[int], full_resync: bool, tally: Tally,
                     control: RunControl, outbox: Outbox | None) -> None:
    """Count and send (``outbox``; None in a dry run, which counts them planned) the carried-over dead
    letters: targeted like any prospect, and counted ``carried_over``, their failures flagged."""
    for change in carried_over(state, absent, full_resync):
        tally.targeted += 1
        tally.carried_over += 1
        tally.carried_over_ids.add(change.prospect_id)
        if control.stopping:
            tally.pending += 1
        elif outbox is None:
            tally.add_planned_update(change.prospect_id, change.attributes)
        else:
            outbox.add(Work(change.prospect_id, change.attributes, change.previous))
    if outbox is not None:
        await outbox.flush()
