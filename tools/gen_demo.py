"""Generate the built-in demo data under outreach_tui/demo/ (seeded, deterministic; the output is committed).

    python tools/gen_demo.py            # rewrite the files
    python tools/gen_demo.py --check    # exit 1 if the committed files differ from what this script writes

Writes:
- profiles.jsonl  ~280 synthetic XDM profiles covering every export case (see CASES below)
- prospects.json  the sandbox seed: Outreach prospects 1001-1250 (names differ a little from the profiles)
- types.json      the body of GET /types for the demo org (custom4-7 segments, custom10 lead score)
- demo.toml       the demo destination profile (docs/DESIGN.md, "Profile file")
- manifest.json   what was written (counts the tests check discovery against)

CASES: Oid identities 1001-1250 (ids as strings, some as JSON integers, one padded with spaces); three records
with two Oid ids (one person duplicated in Outreach; no email so the two prospects never share one); 15
prospects in two records (the later record changes title/city/segment status and wins); 8 records without an
Oid identity; 5 records with invalid ids; 2 malformed lines (truncated JSON, an array); 2 blank lines; unicode
names; 4 mapped segments with all three statuses, plus one unmapped segment that must be ignored.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import unicodedata
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent.parent / "outreach_tui" / "demo"
SEED = 20261128
FIRST_ID, LAST_ID = 1001, 1250

SEGMENTS = [  # (segment id, label, mapping id)
    ("seg-emea", "EMEA high intent", 4),
    ("seg-trial", "Trial started", 5),
    ("seg-churn", "Churn risk", 6),
    ("seg-webinar", "Webinar attendee", 7),
]
UNMAPPED_SEGMENT = "seg-newsletter"
STATUSES = ["realized", "existing", "exited"]

UNICODE_NAMES = [
    ("José", "García"), ("Zoë", "Brontë"), ("李雷", "韩"), ("Łukasz", "Wójcik"), ("Ørjan", "Søberg"),
    ("François", "Lefèvre"), ("Siobhán", "Ó Briain"), ("Jürgen", "Müller"), ("Ayşe", "Yılmaz"),
    ("Dmitri", "Иванов"), ("Chloé", "Dubois"), ("Ngọc", "Nguyễn"), ("Åsa", "Ångström"), ("Renée", "Noël"),
]
FIRST_NAMES = [
    "Ann", "Ben", "Cara", "Dan", "Eve", "Finn", "Gia", "Hugo", "Iris", "Jack", "Kate", "Liam", "Mia",
    "Noah", "Olga", "Paul", "Quinn", "Rosa", "Sam", "Tara", "Uma", "Vic", "Wade", "Xena", "Yuri", "Zara",
]
LAST_NAMES = [
    "Lee", "Smith", "Jones", "Brown", "Taylor", "Wilson", "Evans", "Walker", "Wright", "Hall", "Green",
    "Baker", "Adams", "Clark", "King", "Scott", "Young", "Hill", "Moore", "Wood", "Lewis", "Hughes",
]
TITLES = ["VP Marketing", "Head of RevOps", "Sales Director", "CTO", "Data Engineer", "Account Executive",
          "Marketing Manager", "CFO", "Product Manager", "Customer Success Lead"]
CITIES = [("Paris", "France"), ("Berlin", "Germany"), ("London", "United Kingdom"), ("Madrid", "Spain"),
          ("Oslo", "Norway"), ("Warsaw", "Poland"), ("Dublin", "Ireland"), ("New York", "United States"),
          ("Austin", "United States"), ("Toronto", "Canada"), ("São Paulo", "Brazil"), ("Beijing", "China")]
COMPANIES = ["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay", "Stark", "Wayne", "Tyrell",
             "Soylent"]

DEMO_TOML = """\
[destination]
name = "Outreach demo (sandbox)"
description = "Built-in demo: four segments and six attributes into the local Outreach sandbox"

[outreach]
api_base = "http://127.0.0.1:8765/api/v2"
authorize_url = "http://127.0.0.1:8765/oauth/authorize"
token_url = "http://127.0.0.1:8765/oauth/token"
client_id = "outreach-tui-sandbox"
redirect_uri = "http://127.0.0.1:8976/callback"
scopes = ["prospects.read", "prospects.write", "users.read"]

[source]
path = "profiles.jsonl"
format = "jsonl"

[identity]
namespace = "Oid"

[[mapping]]
source = "person.name.firstName"
target = "firstName"

[[mapping]]
source = "person.name.lastName"
target = "lastName"

[[mapping]]
source = "workEmail.address"
target = "emails"

[[mapping]]
source = "person.jobTitle"
target = "title"

[[mapping]]
source = "workAddress.city"
target = "addressCity"

[[mapping]]
source = "workAddress.country"
target = "addressCountry"
{segments}
[status_values]
realized = "realized"
existing = "existing"
exited = "exited"

[export]
budget_per_hour = 10000
concurrency = 4
strategy = "patch"

[alerts]
on_failure = true
on_throttle = true
on_complete = false
"""


def ascii_slug(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return "".join(ch for ch in folded if ch.isalnum())


class Person:
    def __init__(self, rng: random.Random, number: int) -> None:
        if number % 9 == 0:
            self.first, self.last = UNICODE_NAMES[(number // 9) % len(UNICODE_NAMES)]
        else:
            self.first, self.last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        self.title = rng.choice(TITLES)
        self.city, self.country = rng.choice(CITIES)
        self.company = rng.choice(COMPANIES)
        local = f"{ascii_slug(self.first) or 'user'}.{ascii_slug(self.last) or 'x'}{number}"
        self.work_email = f"{local}@{self.company.lower()}.example"  # unique: the number is in it
        self.personal_email = f"{local}@mail.example"
        self.phone = f"+1-555-{number:04d}" if rng.random() < 0.4 else None


def segment_membership(rng: random.Random, day: int) -> dict[str, Any]:
    ups: dict[str, Any] = {}
    for segment_id, _label, _mapping_id in SEGMENTS:
        if rng.random() < 0.55:
            ups[segment_id] = {"status": rng.choice(STATUSES),
                               "lastQualificationTime": f"2026-11-{day:02d}T{rng.randrange(24):02d}:15:49Z"}
    if rng.random() < 0.1:
        ups[UNMAPPED_SEGMENT] = {"status": "realized",
                                 "lastQualificationTime": f"2026-11-{day:02d}T09:00:00Z"}
    return ups


def profile(person: Person, oids: list[Any] | None, ups: dict[str, Any], with_email: bool = True,
            other_ids: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    identity_map: dict[str, Any] = {}
    if oids is not None:
        identity_map["Oid"] = [{"id": oid, "primary": index == 0} for index, oid in enumerate(oids)]
    identity_map["Email"] = other_ids or [{"id": person.personal_email}]
    record: dict[str, Any] = {
        "identityMap": identity_map,
        "person": {"name": {"firstName": person.first, "lastName": person.last}, "jobTitle": person.title},
        "workAddress": {"city": person.city, "country": person.country},
    }
    if with_email:
        record["workEmail"] = {"address": person.work_email}
    if person.phone:
        record["mobilePhone"] = {"number": person.phone}
    if ups:
        record["segmentMembership"] = {"ups": ups}
    return record


def build() -> dict[str, str]:
    rng = random.Random(SEED)
    people = {number: Person(rng, number) for number in range(FIRST_ID, LAST_ID + 1)}
    lines: list[str] = []

    def emit(record: Any) -> None:
        lines.append(json.dumps(record, ensure_ascii=False))

    pairs = {1101: 1102, 1201: 1202, 1240: 1241}  # one person, two Outreach prospects
    duplicated = sorted(rng.sample([n for n in people if n not in pairs and n not in pairs.values()], 15))
    manifest: dict[str, Any] = {"records": 0, "malformed": 2, "blank_lines": 2, "no_oid": 8, "invalid_oid": 5,
                                "two_oid_records": len(pairs), "duplicated_prospects": duplicated}
    for number, person in people.items():
        if number in pairs.values():
            continue
        if number in pairs:
            oids = [str(number), str(pairs[number])]
            emit(profile(person, oids, segment_membership(rng, 20), with_email=False))
        else:
            oid: Any = number if number % 10 == 3 else (f" {number} " if number == 1042 else str(number))
            emit(profile(person, [oid], segment_membership(rng, 20)))
        if number == 1060:
            lines.append("")  # blank line
        if number == 1150:
            lines.append("   ")  # whitespace-only line
        if number == 1120:
            lines.append('{"identityMap": {"Oid": [{"id": "1120"}]}, "person": {"name": {"firstName": "Trunc')
        if number == 1180:
            lines.append('[{"identityMap": {"Oid": [{"id": "1180"}]}}]')
        if number % 31 == 0:  # a record with no Oid identity: excluded, "missing identity"
            stranger = Person(rng, 7000 + number)
            emit(profile(stranger, None, segment_membership(rng, 21)))
    for bad_id in ["abc", -3, 0, "12.5", ""]:  # excluded, "invalid OutreachId"
        emit(profile(Person(rng, 3000 + len(lines)), [bad_id], segment_membership(rng, 22)))
    while sum(1 for line in lines if '"Oid"' not in line and line.startswith("{")) < 8:
        emit(profile(Person(rng, 4000 + len(lines)), None, segment_membership(rng, 22)))
    for number in duplicated:  # later record for the same prospect: new title, city and statuses win
        person = people[number]
        person.title = rng.choice([t for t in TITLES if t != person.title])
        person.city, person.country = rng.choice([c for c in CITIES if c[0] != person.city])
        emit(profile(person, [str(number)], segment_membership(rng, 27)))

    manifest["records"] = sum(1 for line in lines if line.strip())
    manifest.update(count_identities_and_segments(lines))
    return {
        "profiles.jsonl": "\n".join(lines) + "\n",
        "prospects.json": json.dumps(seed_prospects(rng, people), ensure_ascii=False, indent=1) + "\n",
        "types.json": json.dumps(types_body(), indent=2) + "\n",
        "demo.toml": DEMO_TOML.format(segments=segments_toml()),
        "manifest.json": json.dumps(manifest, indent=2, sort_keys=True) + "\n",
    }


def count_identities_and_segments(lines: list[str]) -> dict[str, Any]:
    """Counts per namespace and per segment status, for the discovery tests."""
    namespaces: dict[str, int] = {}
    segments: dict[str, dict[str, int]] = {}
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict):
            continue
        for namespace in record.get("identityMap", {}):
            namespaces[namespace] = namespaces.get(namespace, 0) + 1
        for segment_id, membership in record.get("segmentMembership", {}).get("ups", {}).items():
            counts = segments.setdefault(segment_id, {status: 0 for status in STATUSES})
            counts[membership["status"]] += 1
    return {"namespaces": namespaces, "segments": segments}


def seed_prospects(rng: random.Random, people: dict[int, Person]) -> dict[str, Any]:
    prospects = []
    for number, person in people.items():
        first, last, emails = person.first, person.last, [person.work_email]
        roll = rng.random()
        if roll < 0.12:  # Outreach still has an unaccented or nickname spelling
            first = ascii_slug(first).capitalize() or first
        elif roll < 0.2:
            last = rng.choice(LAST_NAMES)
        elif roll < 0.3:
            emails = [person.personal_email]  # the work email is new: the demo changes it
        prospects.append({"id": number, "attributes": {"firstName": first, "lastName": last, "emails": emails,
                                                       "company": person.company}})
    return {"prospects": prospects}


def types_body() -> dict[str, Any]:
    validations: dict[str, Any] = {
        f"custom{mapping_id}": {"type": "string", "required": False, "label": label, "definition": None}
        for _segment_id, label, mapping_id in SEGMENTS
    }
    validations["custom10"] = {"type": "numerical", "required": False, "label": "Lead score",
                               "definition": None}
    return {"data": [{"type": "prospect", "meta": {"validations": validations}}]}


def segments_toml() -> str:
    return "".join(f'\n[[segments]]\nid = "{segment_id}"\nname = "{label}"\nmapping_id = {mapping_id}\n'
                   for segment_id, label, mapping_id in SEGMENTS)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true",
                        help="compare with the committed files, write nothing")
    args = parser.parse_args()
    files = build()
    if args.check:
        stale = [name for name, text in files.items()
                 if not (OUT / name).exists() or (OUT / name).read_text(encoding="utf-8") != text]
        if stale:
            print(f"demo data is stale: {', '.join(stale)}; run python tools/gen_demo.py", file=sys.stderr)
            return 1
        return 0
    OUT.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (OUT / name).write_text(text, encoding="utf-8", newline="\n")
    print(f"wrote {', '.join(files)} to {OUT}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
