"""The Outreach sandbox: a faithful local Outreach API and OAuth server on loopback.

Why Starlette + uvicorn: both are widely used and actively maintained (Encode), small, typed, and fast:
uvicorn with httptools and uvloop parses HTTP in C, and Starlette's routing adds little per request, so
the sandbox serves well over the 1,500 PATCH/s it needs to never be the bottleneck of a benchmark
(measured by ``tests/bench/bench_sandbox.py``). A pure ASGI wrapper (not BaseHTTPMiddleware) does the
counting and fault injection, and orjson encodes bodies. uvicorn can also serve on a socket we bind
ourselves, which gives tests a free port (port 0) known before the server starts.

Use::

    with start_sandbox(SandboxConfig(port=0, prospects=50, mint_interval=0)) as sb:
        token = sb.issue_token()["access_token"]
        ...  # talk to sb.api_base with httpx

State lives in memory; the fault RNG is seeded (``fault_seed``), so runs are repeatable.
"""

from outreach_tui.sandbox.config import SandboxConfig
from outreach_tui.sandbox.server import Sandbox, SandboxError, run_sandbox, start_sandbox
from outreach_tui.sandbox.state import SandboxStats

__all__ = ["Sandbox", "SandboxConfig", "SandboxError", "SandboxStats", "run_sandbox", "start_sandbox"]
