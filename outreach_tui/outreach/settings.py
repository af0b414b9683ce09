"""The profile's ``[outreach]`` section: where Outreach is and which OAuth app signs in. It lives here, with
the code that uses it, so that sign-in and tokens need only these settings (``profile.py`` embeds them).

Every Outreach URL must be ``https://``: the bearer token, the refresh token and the client secret travel
over them. Plain ``http://`` is accepted only for a loopback host (the sandbox, a local test server).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# The one loopback redirect URI the user registers on their Outreach app (Outreach matches redirect URIs
# exactly, so the sign-in must listen on a fixed port: a random one could never be registered in advance).
DEFAULT_REDIRECT_URI = "http://127.0.0.1:8976/callback"


def is_loopback_url(url: str) -> bool:
    try:
        return urlsplit(url).hostname in LOOPBACK_HOSTS
    except ValueError:
        return False


class OutreachSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, validate_assignment=True, str_strip_whitespace=True)

    api_base: str = "https://api.outreach.io/api/v2"
    authorize_url: str = "https://api.outreach.io/oauth/authorize"
    token_url: str = "https://api.outreach.io/oauth/token"
    client_id: str = ""
    redirect_uri: str = DEFAULT_REDIRECT_URI
    scopes: list[str] = Field(default_factory=lambda: ["prospects.read", "prospects.write"])

    @field_validator("api_base", "authorize_url", "token_url", "redirect_uri")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError(f"must be an http(s) URL, got {value!r}")
        return value.rstrip("/") if value.count("/") > 2 else value

    @field_validator("api_base", "authorize_url", "token_url")
    @classmethod
    def _encrypted_unless_loopback(cls, value: str, info: ValidationInfo) -> str:
        if value.startswith("http://") and not is_loopback_url(value):
            secure = "https://" + value.removeprefix("http://")
            raise ValueError("plain http:// to a host that is not loopback would send tokens and the client "
                             f"secret unencrypted; set outreach.{info.field_name} = \"{secure}\" "
                             "(http:// is only for 127.0.0.1, localhost and ::1)")
        return value
