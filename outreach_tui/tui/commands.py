"""Command palette provider (``WizardScreen.COMMANDS``): the wizard's main actions, searchable with ctrl+p.
Each command runs one of the screen's actions, so the palette and the keys can never disagree."""

from __future__ import annotations

from functools import partial

from textual.command import Hit, Hits, Provider

from outreach_tui.tui.steps import STEP_TITLES

COMMANDS: list[tuple[str, str, str]] = [
    *((f"Go to step {n}: {title}", f"go('{name}')", "forward steps are checked first")
      for n, (name, title) in enumerate(STEP_TITLES.items(), start=1)),
    ("Save profile", "save", "write the TOML profile"),
    ("Save profile as…", "save_as", "choose a file name"),
    ("Sign in with Outreach", "sign_in", "OAuth in the browser"),
    ("Start the sandbox", "start_sandbox", "a local Outreach to rehearse with"),
    ("Discover the input file", "discover", "sample fields, namespaces and segments"),
    ("Check custom fields in Outreach", "check_types", "GET /types"),
    ("Send a test alert", "test_alert", "to the alert webhook"),
    ("Dry-run preview", "preview", "plan without sending"),
    ("Start export", "export('start')", "send the changes to Outreach"),
    ("Pause export", "export('pause')", ""),
    ("Resume export", "export('resume')", ""),
    ("Cancel export", "export('cancel')", "in-flight requests finish; the rest stay pending"),
    ("Help", "app.help", "keys and steps"),
]


class WizardCommands(Provider):
    async def discover(self) -> Hits:
        for name, action, help_text in COMMANDS:
            yield Hit(1.0, name, partial(self.screen.run_action, action), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, action, help_text in COMMANDS:
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), partial(self.screen.run_action, action), help=help_text)
