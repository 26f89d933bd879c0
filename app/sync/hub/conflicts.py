"""Resolving concurrent edits: five strategies, chosen system-wide and per entity type.

Only changes whose version vectors are concurrent reach here (a causal change simply
wins). Each side is a `Version`: the system that wrote it, its fields, when (on the writer's
clock where the system gives one; `clock` says which). With the
last state both sides agreed on (`base`), the merge strategies work field by field: a
field only one side changed keeps that change, a field both changed takes the
preferred side's value, and a field only one side has is kept.

    resolver = ConflictResolver.from_config(app.config)
    resolution = resolver.resolve("discussion_topic", local, remote, base)
    resolver.record(session, "discussion_topic", 12, local, remote, base, resolution)

Config: HUB_CONFLICT_STRATEGY ("PreferMostRecent") and HUB_CONFLICT_STRATEGY_BY_TYPE
(a dict, or "discussion_topic=MergePreferCanvas,discussion_post=PreferDiscourse").
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, ClassVar

from sqlalchemy.orm import Session

from app.models import HubConflict

_OLDEST = datetime.min.replace(tzinfo=timezone.utc)


# How a version's `updated_at` was known: the writer's own edit time, or (for a system whose
# entities carry none, such as Canvas topics) the time the hub first saw the content changed.
WRITER_CLOCK, FIRST_SEEN_CHANGED = "writer", "first_seen_changed"


@dataclass(frozen=True)
class Version:
    system: str
    fields: Mapping[str, Any]
    updated_at: datetime | None = None
    clock: str = WRITER_CLOCK


@dataclass(frozen=True)
class Resolution:
    fields: dict[str, Any]
    rule: str
    winner: str | None = None  # the system whose version came out whole; None when merged from both
    notes: dict[str, str] = field(default_factory=dict)  # field -> system it was taken from


class Strategy:
    name: ClassVar[str]

    def resolve(self, local: Version, remote: Version, base: Mapping[str, Any] | None = None) -> Resolution:
        raise NotImplementedError


def _most_recent(a: Version, b: Version) -> tuple[Version, Version]:
    """(newer, older); a tie goes to the system whose name sorts first, so every replica agrees."""
    key_a = (a.updated_at or _OLDEST, _reverse(a.system))
    key_b = (b.updated_at or _OLDEST, _reverse(b.system))
    return (a, b) if key_a >= key_b else (b, a)


def _reverse(name: str) -> tuple[int, ...]:
    return tuple(-ord(c) for c in name)


def _whole(winner: Version, rule: str) -> Resolution:
    return Resolution(fields=dict(winner.fields), rule=rule, winner=winner.system,
                      notes={key: winner.system for key in winner.fields})


class PreferSystem(Strategy):
    """The preferred system's version wins whole; between two other systems the newer wins."""

    preferred: ClassVar[str]

    def resolve(self, local, remote, base=None):
        for version in (remote, local):
            if version.system == self.preferred:
                return _whole(version, self.name)
        return _whole(_most_recent(local, remote)[0], self.name)


class PreferCanvas(PreferSystem):
    name, preferred = "PreferCanvas", "canvas"


class PreferDiscourse(PreferSystem):
    name, preferred = "PreferDiscourse", "discourse"


class PreferMostRecent(Strategy):
    name = "PreferMostRecent"

    def resolve(self, local, remote, base=None):
        return _whole(_most_recent(local, remote)[0], self.name)


class MergePrefer(Strategy):
    """Field-wise merge; the preferred system's value where both sides changed a field."""

    preferred: ClassVar[str]

    def resolve(self, local, remote, base=None):
        if remote.system == self.preferred:
            pref, other = remote, local
        elif local.system == self.preferred:
            pref, other = local, remote
        else:
            pref, other = _most_recent(local, remote)
        result: dict[str, Any] = {}
        notes: dict[str, str] = {}
        for key in list(pref.fields) + [k for k in other.fields if k not in pref.fields]:
            if key not in other.fields:
                result[key], notes[key] = pref.fields[key], pref.system
            elif key not in pref.fields:
                result[key], notes[key] = other.fields[key], other.system
            elif pref.fields[key] == other.fields[key]:
                result[key], notes[key] = pref.fields[key], pref.system
            elif base is not None and key in base and pref.fields[key] == base[key]:
                result[key], notes[key] = other.fields[key], other.system  # only the other side changed it
            else:
                result[key], notes[key] = pref.fields[key], pref.system
        winner = pref.system if result == dict(pref.fields) else other.system if result == dict(other.fields) else None
        return Resolution(fields=result, rule=self.name, winner=winner, notes=notes)


class MergePreferCanvas(MergePrefer):
    name, preferred = "MergePreferCanvas", "canvas"


class MergePreferDiscourse(MergePrefer):
    name, preferred = "MergePreferDiscourse", "discourse"


STRATEGIES: dict[str, type[Strategy]] = {cls.name: cls for cls in (
    PreferCanvas, PreferDiscourse, PreferMostRecent, MergePreferCanvas, MergePreferDiscourse)}
DEFAULT_STRATEGY = PreferMostRecent.name


def strategy(name: str) -> Strategy:
    try:
        return STRATEGIES[name.strip()]()
    except KeyError:
        raise ValueError(f"Unknown conflict strategy {name!r}; choose one of {', '.join(STRATEGIES)}.") from None


def parse_by_type(value: Mapping[str, str] | str | None) -> dict[str, str]:
    """{"discussion_topic": "MergePreferCanvas"} from a dict or "type=Strategy,type=Strategy"."""
    if not value:
        return {}
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    out = {}
    for part in str(value).split(","):
        if not part.strip():
            continue
        entity_type, sep, name = part.partition("=")
        if not sep:
            raise ValueError(f"HUB_CONFLICT_STRATEGY_BY_TYPE entry {part.strip()!r} should read type=Strategy.")
        out[entity_type.strip()] = name.strip()
    return out


class ConflictResolver:
    def __init__(self, default: str = DEFAULT_STRATEGY, by_type: Mapping[str, str] | str | None = None):
        self.default = strategy(default)
        self.by_type = {entity_type: strategy(name) for entity_type, name in parse_by_type(by_type).items()}

    @classmethod
    def from_config(cls, config: Mapping) -> ConflictResolver:
        return cls(config.get("HUB_CONFLICT_STRATEGY") or DEFAULT_STRATEGY, config.get("HUB_CONFLICT_STRATEGY_BY_TYPE"))

    def strategy_for(self, entity_type: str) -> Strategy:
        return self.by_type.get(entity_type, self.default)

    def resolve(self, entity_type: str, local: Version, remote: Version,
                base: Mapping[str, Any] | None = None) -> Resolution:
        return self.strategy_for(entity_type).resolve(local, remote, base)

    @staticmethod
    def record(session: Session, entity_type: str, local_id: int, local: Version, remote: Version,
               base: Mapping[str, Any] | None, resolution: Resolution) -> HubConflict:
        """Keep both versions, the rule and the result (the caller's transaction carries it)."""
        row = HubConflict(entity_type=entity_type, local_id=local_id, local_system=local.system,
                          remote_system=remote.system, local_json=_dump(local), remote_json=_dump(remote),
                          base_json=json.dumps(dict(base), default=str) if base is not None else None,
                          rule=resolution.rule, winner=resolution.winner,
                          result_json=json.dumps({"fields": resolution.fields, "taken_from": resolution.notes},
                                                 default=str))
        session.add(row)
        session.flush()
        return row


def _dump(version: Version) -> str:
    return json.dumps({"system": version.system, "fields": dict(version.fields),
                       "updated_at": version.updated_at.isoformat() if version.updated_at else None,
                       "clock": version.clock}, default=str)
