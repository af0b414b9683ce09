"""The wizard's frame: the step bar, a ContentSwitcher of steps (hidden steps keep their widget state), Back
and Next, the draft and its problems, saving. The background work lives in ``screens/wizard.py``.

Moving never changes what the user typed and a failed Next never moves focus: problems are already shown
next to their fields (they follow every edit), so Next only says how many are left on this step."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Button, ContentSwitcher, Footer, Static

from outreach_tui.profile import ProfileError, save_profile
from outreach_tui.tui import backend
from outreach_tui.tui.backend import Problem
from outreach_tui.tui.commands import WizardCommands
from outreach_tui.tui.draft import Draft
from outreach_tui.tui.locations import remember_profile
from outreach_tui.tui.messages import DraftChanged, SaveRequested
from outreach_tui.tui.modals import ErrorModal, SaveAsModal
from outreach_tui.tui.settings import WizardSettings
from outreach_tui.tui.steps import STEP_TITLES, STEPS
from outreach_tui.tui.widgets.base import Step
from outreach_tui.tui.widgets.connect import ConnectStep
from outreach_tui.tui.widgets.destination import DestinationStep
from outreach_tui.tui.widgets.export_panel import ExportPanel
from outreach_tui.tui.widgets.mapping import MappingStep
from outreach_tui.tui.widgets.review import ReviewStep
from outreach_tui.tui.widgets.segments import SegmentsStep
from outreach_tui.tui.widgets.source import SourceStep


class StepsScreen(Screen[None]):
    COMMANDS: ClassVar = {WizardCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f2", "back", "Back", id="wizard.back"),
        Binding("f3", "next", "Next", id="wizard.next"),
        Binding("ctrl+s", "save", "Save", id="wizard.save"),
    ]
    DEFAULT_CSS = """
    StepsScreen #step-bar { height: 1; background: $boost; }
    StepsScreen #steps { height: 1fr; }
    StepsScreen #nav { height: 1; dock: bottom; margin-bottom: 1; padding: 0 1; }
    StepsScreen #nav Button { width: auto; min-width: 10; }
    StepsScreen #nav-status { width: 1fr; padding: 0 1; }
    """

    def __init__(self, draft: Draft, settings: WizardSettings) -> None:
        super().__init__()
        self.draft = draft
        self.settings = settings
        self.custom_types: dict[str, dict[str, Any]] | None = None  # Outreach's /types, once checked

    def compose(self) -> ComposeResult:
        yield Static("", id="step-bar")
        with ContentSwitcher(initial="connect", id="steps"):
            yield ConnectStep(self.draft, id="connect")
            yield DestinationStep(self.draft, id="destination")
            yield SourceStep(self.draft, id="source")
            yield MappingStep(self.draft, id="mapping")
            yield SegmentsStep(self.draft, id="segments")
            yield ReviewStep(self.draft, id="review")
            yield ExportPanel(clock=self.settings.clock, show_path=self.settings.show_path, id="export")
        with Horizontal(id="nav"):
            yield Button("◀ Back", id="back", compact=True)
            yield Static("", id="nav-status")
            yield Button("Next ▶", id="next", variant="primary", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        for step in self.steps():
            step.load()
        self.show_problems()
        self.show_step("connect")

    # ----- steps -------------------------------------------------------------------------------------------

    def steps(self) -> list[Step]:
        return [self.query_one(f"#{name}", Step) for name in STEPS if name != "export"]

    def step(self, name: str) -> Step:
        return self.query_one(f"#{name}", Step)

    @property
    def current(self) -> str:
        return self.query_one("#steps", ContentSwitcher).current or "connect"

    def show_step(self, name: str) -> None:
        index = STEPS.index(name)
        back, next_ = self.query_one("#back", Button), self.query_one("#next", Button)
        focused = self.focused
        # One focus change at most (each one rebuilds the footer): stay on the nav buttons when they have
        # focus, else move into the new step.
        if focused is back and index == 0:
            next_.focus()
        elif focused is next_ and index == len(STEPS) - 1:
            back.focus()
        elif focused is not None and focused not in (back, next_):
            self._focus_in(name)
        self.query_one("#steps", ContentSwitcher).current = name
        self.paint_step_bar()
        back.disabled = index == 0
        next_.disabled = index == len(STEPS) - 1
        if name == "review":
            self.refresh_review()
        self.set_status("")

    def _focus_in(self, name: str) -> None:
        widget = self.query_one(f"#{name}")
        if isinstance(widget, Step | ExportPanel):
            widget.focus_first()

    def problems_of(self, name: str) -> list[Problem]:
        """The problems a step must see fixed before moving on (Review: all of them)."""
        problems = self.problems()
        if name == "review":
            return problems
        if name == "export":
            return []
        step = self.step(name)
        return [problem for problem in problems if step.owns(problem)]

    def paint_step_bar(self) -> None:
        """Every step, whole, at 80 columns: " N Title " blocks side by side (separators only when wide)."""
        index = STEPS.index(self.current)
        bar = Text(no_wrap=True, overflow="crop")
        separator = "›" if self.size.width >= 90 else ""
        for number, name in enumerate(STEPS):
            if number and separator:
                bar.append(separator, style="dim")
            broken = name != "export" and bool(self.problems_of(name))
            style = "bold reverse" if number == index else ("dim" if number > index else "")
            bar.append(f"{'!' if broken else ' '}{number + 1} {STEP_TITLES[name]} ",
                       style=style + (" red" if broken and number != index else ""))
        self.query_one("#step-bar", Static).update(bar)

    def on_resize(self) -> None:
        self.paint_step_bar()

    def go(self, name: str) -> bool:
        """Move to ``name``; moving forward stops at the first step on the way that still has problems."""
        here, there = STEPS.index(self.current), STEPS.index(name)
        for step_name in STEPS[here:there]:
            problems = self.problems_of(step_name)
            if problems:
                if step_name != self.current:
                    self.show_step(step_name)
                self.set_status(f"{len(problems)} problem(s) on this step: {problems[0]}", error=True)
                return False
        self.show_step(name)
        return True

    def action_go(self, name: str) -> None:
        self.go(name)

    def set_status(self, message: str, error: bool = False) -> None:
        self.query_one("#nav-status", Static).update(Text(message, style="bold red" if error else "",
                                                          no_wrap=True, overflow="ellipsis"))

    # ----- the draft and its problems ----------------------------------------------------------------------

    @on(DraftChanged)
    def _draft_changed(self) -> None:
        self.show_problems()
        self.set_status("")

    def problems(self) -> list[Problem]:
        """The draft's problems and the custom fields Outreach's types refuse (both block the export)."""
        return self.draft.problems + self._types_problems()[0]

    def _types_problems(self) -> tuple[list[Problem], list[Problem]]:
        """The engine's rule for typed custom fields, against the draft as it is now (after a check)."""
        profile = self.draft.check().profile
        if self.custom_types is None or profile is None:
            return [], []
        return backend.custom_field_problems(profile, self.custom_types)

    def show_problems(self) -> None:
        errors, notes = self._types_problems()
        problems, warnings = self.draft.problems + errors, self.draft.warnings + notes
        for step in self.steps():
            step.show_problems(problems)
            step.show_warnings(warnings)
        self.paint_step_bar()
        if self.current == "review":
            self.refresh_review()

    def is_dirty(self) -> bool:
        return self.draft.is_dirty()

    def refresh_review(self) -> None:
        path = self.draft.path
        self.query_one(ReviewStep).show_profile(self.draft, self.settings.show_path(str(path)) if path else None)

    # ----- actions -----------------------------------------------------------------------------------------

    @on(Button.Pressed, "#next")
    def action_next(self) -> None:
        index = STEPS.index(self.current)
        if index < len(STEPS) - 1:
            self.go(STEPS[index + 1])

    @on(Button.Pressed, "#back")
    def action_back(self) -> None:
        index = STEPS.index(self.current)
        if index > 0:
            self.show_step(STEPS[index - 1])

    @on(SaveRequested)
    def _save_requested(self, message: SaveRequested) -> None:
        if message.choose_file:
            self.action_save_as()
        else:
            self.action_save()

    def action_save(self) -> None:
        if self.draft.path is None:
            self.action_save_as()
            return
        self.save_to(self.draft.path)

    def action_save_as(self) -> None:
        suggestion = str(self.draft.path) if self.draft.path else "outreach-profile.toml"

        def chosen(path: str | None) -> None:
            if path:
                self.save_to(Path(path).expanduser())

        self.app.push_screen(SaveAsModal(suggestion), chosen)

    def save_to(self, path: Path) -> bool:
        checked = self.draft.check()
        if checked.profile is None:  # a missing input file alone does not stop a save
            self.set_status(f"Not saved: {len(checked.problems)} problem(s); first: {checked.problems[0]}",
                            error=True)
            return False
        try:
            saved = save_profile(checked.profile, path)
        except (OSError, ProfileError) as error:
            self.app.push_screen(ErrorModal("Could not save the profile", str(error)))
            return False
        self.draft.saved(saved)
        self.saved_profile()
        remember_profile(saved)
        self.show_problems()
        self.refresh_review()
        self.notify(f"Saved {self.settings.show_path(str(saved))}", markup=False)
        return True

    def saved_profile(self) -> None:
        """Hook: the draft now has a file (the sign-in follows it)."""
