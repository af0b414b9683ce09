"""Command palette provider: the wizard's main actions, searchable with ctrl+p."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from textual.command import Hit, Hits, Provider


class WizardCommands(Provider):
    def _commands(self) -> list[tuple[str, Callable[[], Any], str]]:
        from outreach_tui.tui.screens.wizard import STEPS, WizardScreen

        screen = next((s for s in self.app.screen_stack if isinstance(s, WizardScreen)), None)
        if screen is None:
            return []
        commands: list[tuple[str, Callable[[], Any], str]] = [
            (f"Go to step {n}: {name.title()}", partial(screen.go, name), "forward steps are checked first")
            for n, name in enumerate(STEPS, start=1)
        ]
        commands += [
            ("Save profile", screen.action_save, "write the TOML profile"),
            ("Save profile as…", screen.action_save_as, "choose a file name"),
            ("Sign in with Outreach", screen.action_sign_in, "OAuth in the browser"),
            ("Start the sandbox", screen.action_start_sandbox, "a local Outreach to rehearse with"),
            ("Discover the input file", screen.action_discover, "sample fields, namespaces and segments"),
            ("Check custom fields in Outreach", screen.action_check_types, "GET /types"),
            ("Dry-run preview", screen.action_preview, "plan without sending"),
            ("Start export", screen.action_start_export, "send the changes to Outreach"),
            ("Pause export", screen.action_pause, ""),
            ("Resume export", screen.action_resume, ""),
            ("Cancel export", screen.action_cancel_export, "in-flight requests finish; the rest stay pending"),
            ("Help", screen.wizard_app.action_help, "keys and steps"),
        ]
        return commands

    async def discover(self) -> Hits:
        for name, callback, help_text in self._commands():
            yield Hit(1.0, name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, callback, help_text in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)
