"""A prospect as Outreach renders it: every attribute of ``components.schemas.prospect`` (the catalog in
``outreach_tui/outreach/catalog.json``), nulls included, plus its relationships, as a JSON:API resource.

The sandbox stores only the attributes that have a value; this module fills in the rest, so a client that
reads a 200 answer sees exactly the keys Outreach would send.
"""

from __future__ import annotations

from typing import Any

from outreach_tui.outreach import catalog

# components.schemas.prospectRelationships: to-one relationships carry ``data`` (null when unset), to-many
# ones the ids (none in the sandbox) and a link, links-only ones just the link.
TO_ONE = ("account", "creator", "defaultPluginMapping", "owner", "persona", "stage", "trashedByAccount", "updater")
TO_MANY = (
    "activeSequenceStates",
    "assignedTeams",
    "assignedUsers",
    "emailAddresses",
    "favorites",
    "opportunities",
    "opportunityProspectRoles",
    "phoneNumbers",
)
LINKS_ONLY = ("batches", "calls", "mailings", "sequenceStates", "tasks")


class ProspectRenderer:
    """Renders prospects for one base URL (known once the port is)."""

    def __init__(self, base_url: str = "") -> None:
        self.blank: dict[str, None] = dict.fromkeys(catalog.attributes())
        self.base_url = base_url

    def resource(self, prospect_id: int, record: dict[str, Any], fields: set[str] | None = None) -> dict[str, Any]:
        if fields is None:
            attributes: dict[str, Any] = {**self.blank, **record}
        else:  # sparse fieldsets: exactly the asked attributes Outreach knows, null when unset
            attributes = {name: record.get(name) for name in fields if name in self.blank}
        api = f"{self.base_url}/api/v2"
        relationships: dict[str, Any] = {name: {"data": None} for name in TO_ONE}
        for name in TO_MANY:
            relationships[name] = {"data": [], "links": {"related": f"{api}/{name}?filter[prospect][id]={prospect_id}"}}
        for name in LINKS_ONLY:
            relationships[name] = {"links": {"related": f"{api}/{name}?filter[prospect][id]={prospect_id}"}}
        return {
            "type": "prospect",
            "id": prospect_id,
            "attributes": attributes,
            "relationships": relationships,
            "links": {"self": f"{api}/prospects/{prospect_id}"},
        }
