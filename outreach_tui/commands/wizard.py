"""``outreach-tui [PROFILE.toml]`` (the wizard) and ``outreach-tui demo`` (sandbox + demo profile + wizard).

Textual is imported inside the functions only, so importing this module (the CLI does, to build its parser)
costs nothing and ``--run`` never loads Textual.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from outreach_tui.commands.arguments import non_negative_int, port
from outreach_tui.exit_codes import ExitCode
from outreach_tui.profile import ProfileError, profile_from_dict, save_profile

DEMO_STATE = "demo-state.sqlite"  # next to the demo profile


def run_wizard(profile_path: Path | None) -> int:
    """The wizard on ``profile_path``; none given: the most recent profile, else a new one."""
    from outreach_tui.tui.app import WizardSettings, make_app
    from outreach_tui.tui.locations import recent_profiles

    if profile_path is None:
        recent = recent_profiles()
        profile_path = recent[0] if recent else None
    elif not Path(profile_path).is_file():
        print(f"outreach-tui: {profile_path}: file not found; run outreach-tui without a file to create one",
              file=sys.stderr)
        return ExitCode.USAGE
    app = make_app(WizardSettings(profile_path=Path(profile_path) if profile_path else None))
    result = app.run()
    return int(result or 0)


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=port, default=0, help="sandbox port (default: any free port)")
    parser.add_argument("--rate-limit", type=non_negative_int, default=10_000,
                        help="sandbox requests per hour per user (default 10000; 0 = unlimited)")


def write_demo_profile(directory: Path, sandbox: Any) -> Path:
    """The shipped demo profile and data, copied into ``directory`` and pointed at ``sandbox``."""
    demo = resources.files("outreach_tui") / "demo"
    directory.mkdir(parents=True, exist_ok=True)
    with resources.as_file(demo / "profiles.jsonl") as source:
        shutil.copy(source, directory / "profiles.jsonl")
    data = tomllib.loads((demo / "demo.toml").read_text(encoding="utf-8"))
    data["outreach"].update(api_base=sandbox.api_base, authorize_url=sandbox.authorize_url,
                            token_url=sandbox.token_url)
    # The sandbox starts empty every time, so what the last demo sent must be forgotten as well.
    data.setdefault("export", {})["state_path"] = DEMO_STATE
    for leftover in directory.glob(DEMO_STATE + "*"):
        leftover.unlink()
    profile = profile_from_dict(data)
    return save_profile(profile, directory / "demo.toml")


def run_demo(args: argparse.Namespace) -> int:
    from outreach_tui.sandbox import SandboxConfig, start_sandbox
    from outreach_tui.tui.app import WizardSettings, make_app
    from outreach_tui.tui.locations import demo_dir

    config = SandboxConfig(port=args.port, seed="demo", rate_limit=args.rate_limit, mint_interval=0)
    with start_sandbox(config) as sandbox:
        try:
            path = write_demo_profile(demo_dir(), sandbox)
        except (OSError, ProfileError) as error:
            print(f"outreach-tui demo: {error}", file=sys.stderr)
            return ExitCode.USAGE
        # Nothing to configure: the demo acts as the sandbox's demo user with a token minted for this
        # process only (the documented OUTREACH_ACCESS_TOKEN override; never written anywhere).
        os.environ["OUTREACH_ACCESS_TOKEN"] = sandbox.issue_token()["access_token"]
        print(f"Sandbox on {sandbox.base_url}; demo profile {path}", file=sys.stderr)
        app = make_app(WizardSettings(profile_path=path, sandbox=sandbox))
        result = app.run()
    return int(result or 0)
