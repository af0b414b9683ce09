"""The read requests of ``OutreachClient`` (``client.py``): prospects by id, prospects by email, the custom
field types, and the paging they share. Every one goes through the client's one request loop."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from outreach_tui.outreach.answers import custom_fields_from_types, origin, without_query
from outreach_tui.outreach.errors import ApiError, parse_errors

if TYPE_CHECKING:
    from outreach_tui.outreach.client import _Outcome

IDS_PER_QUERY = 100  # filter[id]=1,2,... stays well below URL length limits
PAGE_SIZE = 100  # prospects per page of GET /prospects (links.next gives the rest)
EMAIL_PAGE_SIZE = 1000  # the largest page[size] Outreach allows: one page answers a whole batch of emails


class OutreachRequestFailed(Exception):
    """A read request (not a prospect update) failed for good; carries the parsed errors."""

    def __init__(self, url: str, status: int | None, errors: list[ApiError]) -> None:
        detail = "; ".join(e.detail for e in errors) or "no detail"
        super().__init__(f"{url}: HTTP {status or 'no response'}: {detail}")
        self.status = status
        self.errors = errors


class ReadRequests:
    """Mixed into ``OutreachClient``, which provides the request loop and the counters."""

    api_base: str
    lookups: int
    _origin: str

    async def _request(self, method: str, url: str, *, scope: str | None, prospect_id: int = 0,
                       content: bytes | None = None, params: dict[str, str] | None = None) -> _Outcome:
        raise NotImplementedError  # OutreachClient._request: the one request loop

    # -- prospects ----------------------------------------------------------------------------------------
    async def get_prospects(self, ids: list[int], fields: list[str] | None = None) -> dict[int, dict[str, Any]]:
        """The attributes of the given prospects that exist and are visible (missing ids are absent)."""
        found: dict[int, dict[str, Any]] = {}
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), IDS_PER_QUERY):
            chunk = unique[start : start + IDS_PER_QUERY]
            params: dict[str, str] | None = _prospects_query(chunk, fields)
            url: str | None = f"{self.api_base}/prospects"
            while url is not None:
                page = await self._get_json(url, params=params, scope="prospects.read")
                for resource in page.get("data") or []:
                    if isinstance(resource, dict) and str(resource.get("id", "")).isdigit():
                        found[int(resource["id"])] = dict(resource.get("attributes") or {})
                url, params = self._next_page(page), None  # links.next carries the whole query
        return found

    async def prospects_with_emails(self, emails: list[str]) -> dict[str, list[int]]:
        """For each of ``emails`` (lowercase, one request's worth: the caller keeps the URL short), the ids
        of the prospects holding it, in id order ([] for none). One request per page of the answer."""
        found: dict[str, list[int]] = {email: [] for email in emails}
        params: dict[str, str] | None = {"filter[emails]": ",".join(emails), "page[size]": str(EMAIL_PAGE_SIZE),
                                         "fields[prospect]": "emails"}
        url: str | None = f"{self.api_base}/prospects"
        while url is not None:
            page = await self._get_json(url, params=params, scope="prospects.read")
            self.lookups += 1
            for resource in page.get("data") or []:
                if not isinstance(resource, dict) or not str(resource.get("id", "")).isdigit():
                    continue
                held = (resource.get("attributes") or {}).get("emails")
                for email in held if isinstance(held, list) else []:
                    ids = found.get(email.strip().lower()) if isinstance(email, str) else None
                    if ids is not None and int(resource["id"]) not in ids:
                        ids.append(int(resource["id"]))
            url, params = self._next_page(page), None  # links.next carries the whole query
        return {email: sorted(ids) for email, ids in found.items()}

    # -- account ------------------------------------------------------------------------------------------
    async def custom_field_types(self) -> dict[str, dict[str, Any]]:
        """GET /types as ``{"custom4": {"type": "string", "label": "Segment 4", ...}}``."""
        return custom_fields_from_types(await self._get_json(f"{self.api_base}/types", scope=None))

    # -- GET and paging -----------------------------------------------------------------------------------
    async def _get_json(self, url: str, *, scope: str | None, params: dict[str, str] | None = None) -> dict[str, Any]:
        outcome = await self._request("GET", url, params=params, scope=scope)
        response = outcome.response
        if response is None or not response.is_success:
            raise OutreachRequestFailed(without_query(url), response.status_code if response else None, outcome.errors)
        try:
            parsed = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise OutreachRequestFailed(
                without_query(url),
                response.status_code,
                parse_errors(response.status_code, response.content, None),
            ) from None
        return parsed if isinstance(parsed, dict) else {"data": parsed}

    def _next_page(self, page: dict[str, Any]) -> str | None:
        """links.next, only when it points at the same server (the bearer token goes with it)."""
        links = page.get("links")
        next_url = links.get("next") if isinstance(links, dict) else None
        if not isinstance(next_url, str) or not next_url:
            return None
        if origin(next_url) != self._origin:
            refused = ApiError("foreignNextLink", "Refused", "a paging link pointed at another host", None)
            raise OutreachRequestFailed(without_query(next_url), None, [refused])
        return next_url


def _prospects_query(ids: list[int], fields: list[str] | None) -> dict[str, str]:
    query = {"filter[id]": ",".join(str(i) for i in ids), "page[size]": str(min(len(ids), PAGE_SIZE))}
    if fields:
        query["fields[prospect]"] = ",".join(fields)
    return query
