"""``outreach-tui login PROFILE.toml`` and ``outreach-tui logout PROFILE.toml``.

Login says which redirect URI must be registered on the Outreach app, opens Outreach's sign-in page in the
browser (and prints its address), waits for the loopback redirect, stores the tokens and shows the scopes
granted. ``--no-browser`` is for SSH
sessions: open the printed address anywhere, sign in, then paste the address the browser ends up on
(it may show "cannot connect": that is expected, the address bar still holds what is needed).
Exit codes: 0 signed in, 2 bad profile, 3 sign-in failed or scopes missing, 4 token endpoint unreachable.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
import time
import webbrowser

from outreach_tui.commands.arguments import positive_float
from outreach_tui.exit_codes import ExitCode
from outreach_tui.outreach import auth
from outreach_tui.outreach.credentials import AuthRequired, AuthUnreachable
from outreach_tui.profile import Profile, ProfileError, load_profile


def add_login_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("profile", metavar="PROFILE.toml", help="the profile whose Outreach app to use")
    parser.add_argument("--no-browser", action="store_true",
                        help="do not open a browser; print the address and read the pasted redirect URL")
    parser.add_argument("--timeout", type=positive_float, default=300.0, metavar="S",
                        help="seconds to wait for the browser sign-in (default 300)")


def add_logout_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("profile", metavar="PROFILE.toml", help="the profile whose saved tokens to forget")


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _load(path: str) -> Profile | None:
    try:
        return load_profile(path)
    except ProfileError as exc:
        _say(str(exc))
        return None


def _open_in_background(url: str) -> None:
    """webbrowser.open can block (console browsers); the callback server must keep serving meanwhile."""
    threading.Thread(target=webbrowser.open, args=(url,), daemon=True).start()


def _show_url(url: str) -> None:
    _say(f"Sign in to Outreach in your browser. If it does not open, visit:\n\n  {url}\n")
    _say("Waiting for the sign-in to finish in the browser (Ctrl+C to cancel)...")


async def _browser_login(profile: Profile, timeout: float) -> auth.SignInResult:
    _say(auth.redirect_uri_advice(profile.outreach))
    return await auth.sign_in(profile.outreach, profile.token_place(), open_browser=_open_in_background,
                              on_url=_show_url, timeout=timeout)


def _paste_login(profile: Profile) -> auth.SignInResult:
    auth.client_secret_for(profile.outreach)  # fail before the user signs in if there is no client secret
    pending = auth.begin_paste_sign_in(profile.outreach)
    _say(auth.redirect_uri_advice(profile.outreach))
    _say("Open this address in any browser and sign in to Outreach:\n\n"
         f"  {pending.authorize_url}\n\n"
         f"The browser then goes to {pending.redirect_uri}?code=... (it may say it cannot connect).")
    print("Paste that full address here and press Enter: ", end="", file=sys.stderr, flush=True)
    pasted = sys.stdin.readline().strip()
    if not pasted:
        raise auth.SignInError("No address was pasted; run the login again")
    return asyncio.run(auth.complete_sign_in_from_redirect(profile.outreach, profile.token_place(), pasted, pending))


def _report(profile: Profile, result: auth.SignInResult) -> int:
    _say(f"Signed in as {result.user}." if result.user else
         "Signed in to Outreach (Outreach does not say as which user).")
    _say(f"Granted scopes: {' '.join(result.scopes) or '(none reported)'}")
    if result.expires_at is not None:
        until = time.strftime("%H:%M", time.localtime(result.expires_at))
        _say(f"Access token valid until {until} (renewed automatically with the stored refresh token).")
    _say(f"Tokens stored in: {result.store_location}")
    if result.notice:
        _say(result.notice)
    if result.missing_scopes:
        missing = " ".join(result.missing_scopes)
        _say(f"Missing scopes this profile needs: {missing}.\n"
             "To re-consent: make sure the Outreach app "
             f"(client id '{profile.outreach.client_id}') is allowed these scopes and that "
             "outreach.scopes in the profile lists them, then run "
             f"{profile.token_place().login_hint} again and approve every requested scope.")
        return ExitCode.AUTH
    return ExitCode.OK


def run_login(args: argparse.Namespace) -> int:
    profile = _load(args.profile)
    if profile is None:
        return ExitCode.USAGE
    try:
        result = _paste_login(profile) if args.no_browser else asyncio.run(_browser_login(profile, args.timeout))
    except KeyboardInterrupt:
        _say("Sign-in cancelled.")
        return ExitCode.INTERRUPTED
    except AuthUnreachable as exc:
        _say(f"Sign-in failed: {exc}")
        return ExitCode.UNREACHABLE
    except AuthRequired as exc:
        _say(f"Sign-in failed: {exc}")
        return ExitCode.AUTH
    return _report(profile, result)


def run_logout(args: argparse.Namespace) -> int:
    profile = _load(args.profile)
    if profile is None:
        return ExitCode.USAGE
    if auth.logout(profile.token_place()):
        _say(f"Signed out: forgot the saved Outreach tokens of {profile.path}.")
    else:
        _say(f"No saved Outreach tokens for {profile.path}; nothing to forget.")
    return ExitCode.OK

