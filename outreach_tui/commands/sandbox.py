"""``outreach-tui sandbox``: run the Outreach sandbox until Ctrl-C and say how to point a profile at it."""

from __future__ import annotations

import argparse
import ipaddress
import sys
from pathlib import Path

from pydantic import ValidationError

from outreach_tui.commands.arguments import (
    fraction,
    non_negative_float,
    non_negative_int,
    port,
    positive_float,
    positive_int,
)
from outreach_tui.exit_codes import ExitCode
from outreach_tui.sandbox import Sandbox, SandboxConfig, SandboxError, run_sandbox
from outreach_tui.sandbox.config import DEFAULT_CLIENT_SECRET, DEFAULT_REDIRECT_URI, DEFAULT_USERS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = SandboxConfig()
    add = parser.add_argument
    add("--host", default=defaults.host, help="address to listen on (loopback only unless --allow-remote)")
    add(
        "--allow-remote",
        action="store_true",
        help="allow a non-loopback --host (anyone reaching it can log in)",
    )
    add("--port", type=port, default=defaults.port, help="port (0 picks a free one)")
    add(
        "--rate-limit",
        type=non_negative_int,
        default=defaults.rate_limit,
        help="requests per window per user; 0 = unlimited",
    )
    add("--window", type=positive_float, default=defaults.window, help="rate-limit window in seconds")
    add("--prospects", type=non_negative_int, default=defaults.prospects, help="create N blank prospects with ids 1..N")
    add("--seed", default=None, help="prospects to load: a JSON file, or 'demo' for the demo data "
                                     "(the default when --prospects is not given either)")
    add("--types", type=Path, default=None, help="a JSON file with the GET /types body (custom field types)")
    add("--user", action="append", default=None, metavar="EMAIL:PASSWORD", help="a sign-in user (repeatable)")
    add("--client-id", default=defaults.client_id)
    add("--client-secret", default=defaults.client_secret)
    add("--token-ttl", type=positive_int, default=defaults.token_ttl, help="access token lifetime in seconds")
    add(
        "--mint-interval",
        type=non_negative_float,
        default=defaults.mint_interval,
        help="seconds between token mints; 0 = off",
    )
    add("--error-rate", type=fraction, default=0.0, help="fraction of API requests answered 500/502/503")
    add("--drop-rate", type=fraction, default=0.0, help="fraction of API requests whose connection is dropped")
    add("--latency-ms", type=non_negative_float, default=0.0, help="delay added to every API request")
    add("--fault-seed", type=int, default=0, help="seed of the fault RNG (repeatable runs)")
    add(
        "--redirect-uri",
        action="append",
        default=None,
        metavar="URI",
        help=f"register one more OAuth redirect URI, matched exactly (repeatable; always registered: "
        f"{DEFAULT_REDIRECT_URI})",
    )
    add(
        "--scope-separator",
        choices=["plus", "space"],
        default="plus",
        help="how the token answer joins scopes: 'plus' as Outreach's sample (default) or 'space'",
    )
    add(
        "--import-delay",
        type=non_negative_float,
        default=defaults.import_delay,
        help="seconds before a bulkUpsert import is processed",
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _users(pairs: list[str] | None) -> dict[str, str] | None:
    if not pairs:
        return None
    users: dict[str, str] = {}
    for pair in pairs:
        email, sep, password = pair.partition(":")
        if not sep or not email or not password:
            raise SandboxError(f"--user expects EMAIL:PASSWORD, got {pair.split(':')[0]!r}...")
        users[email] = password
    return users


def config_from(args: argparse.Namespace) -> SandboxConfig:
    if not _is_loopback(args.host) and not args.allow_remote:
        raise SandboxError(f"refusing to listen on non-loopback host {args.host!r}; add --allow-remote to insist")
    # With nothing asked for, serve the demo's prospects so the demo profile works against it at once.
    wanted = args.seed if args.seed is not None or args.prospects else "demo"
    seed = wanted if wanted in (None, "demo") else Path(wanted)
    users = _users(args.user)
    settings = {
        "host": args.host,
        "port": args.port,
        "rate_limit": args.rate_limit,
        "window": args.window,
        "prospects": args.prospects,
        "seed": seed,
        "types": args.types,
        "client_id": args.client_id,
        "client_secret": args.client_secret,
        "token_ttl": args.token_ttl,
        "mint_interval": args.mint_interval,
        "error_rate": args.error_rate,
        "drop_rate": args.drop_rate,
        "latency_ms": args.latency_ms,
        "fault_seed": args.fault_seed,
        "redirect_uris": [DEFAULT_REDIRECT_URI, *(args.redirect_uri or [])],
        "scope_separator": "+" if args.scope_separator == "plus" else " ",
        "import_delay": args.import_delay,
    }
    if users is not None:
        settings["users"] = users
    try:
        return SandboxConfig.model_validate(settings)
    except ValidationError as exc:
        problems = "; ".join(f"--{'-'.join(map(str, e['loc'])).replace('_', '-')}: {e['msg']}" for e in exc.errors())
        raise SandboxError(problems) from None


def announce(sandbox: Sandbox) -> None:
    config = sandbox.config
    users = ", ".join(
        f"{email} (password demo)" if DEFAULT_USERS.get(email) == password else email
        for email, password in config.users.items()
    )
    print(f"Outreach sandbox listening on {sandbox.base_url}", flush=False)
    print("Point a profile at it with:\n")
    print("[outreach]")
    print(f'api_base = "{sandbox.api_base}"')
    print(f'authorize_url = "{sandbox.authorize_url}"')
    print(f'token_url = "{sandbox.token_url}"')
    print(f'client_id = "{config.client_id}"')
    print(f'redirect_uri = "{sandbox.state.redirect_uris[0]}"')
    secret = config.client_secret if config.client_secret == DEFAULT_CLIENT_SECRET else "<your --client-secret>"
    print(f"\nClient secret: OUTREACH_CLIENT_SECRET={secret}. Sign in as: {users}.")
    print(f"Registered redirect URIs (matched exactly): {', '.join(sandbox.state.redirect_uris)}.")
    print(
        f"Prospects: {len(sandbox.state.prospects)}. Inspection API: {sandbox.base_url}/_sandbox/stats",
        flush=True,
    )
    print("Press Ctrl-C to stop.", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    try:
        config = config_from(args)
        run_sandbox(config, ready=announce)
    except SandboxError as exc:
        print(f"outreach-tui sandbox: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    except KeyboardInterrupt:
        pass
    print("Sandbox stopped.", file=sys.stderr)
    return ExitCode.OK
