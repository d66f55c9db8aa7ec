"""Duplicates for many new records at once (an import's batch), found as they would be one
record at a time, each saved before the next is checked.

The records stored before the batch are looked up for every probe in one statement
(`candidates.candidates_of_batch`: each probe's own look-ups, limits and union, run LATERAL).
The batch's own records are not stored yet when they are checked, so they are matched here,
in Python, with the statement's own tests: the same email, phone or tax code, a shared person
key, and names and companies close by trigrams exactly as pg_trgm's `%` decides
(`trigram_similarity`). A record
counts for the probes after it only once the caller has `accept`ed it (a skipped or failed row
is never stored, so it finds nothing later on). Both sets of candidates are then scored by the
rules as `find_duplicates` scores them.

One difference from one record at a time: each part of the look-up keeps at most `PER_PART`
candidates among the stored records and, apart, among the batch's; one at a time, the two
share that limit. It matters only past 50 close names at once, and then finds more, not less."""

import struct
import uuid
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from app.core import match_keys
from app.core.context import Ctx
from app.duplicates import candidates, service
from app.duplicates.candidates import PER_PART, TRIGRAM_THRESHOLD, Lookups
from app.duplicates.matching import Comparable
from app.duplicates.schemas import Duplicate, DuplicateResource

_THRESHOLD = float(TRIGRAM_THRESHOLD)
Found = tuple[DuplicateResource, uuid.UUID, Comparable]


def trigrams(key: str) -> frozenset[str]:
    """pg_trgm's trigrams of a match key (lower-case letters and digits, words apart by one
    space, app/core/match_keys.py): each word padded with two spaces before and one after."""
    grams: set[str] = set()
    for word in key.split():
        padded = f"  {word} "
        grams.update(padded[i : i + 3] for i in range(len(padded) - 2))
    return frozenset(grams)


def _float4(value: float) -> float:
    """pg_trgm computes similarity in single precision."""
    return float(struct.unpack("f", struct.pack("f", value))[0])


def trigram_similarity(shared: int, left: int, right: int) -> float:
    """pg_trgm's `similarity` from the trigrams two keys share and each one's count."""
    union = left + right - shared
    return _float4(shared / union) if union else 0.0


class _Near:
    """The accepted records' trigrams of one key, to find those close to a probe's by
    pg_trgm's `%` without comparing every pair."""

    def __init__(self) -> None:
        self.postings: dict[str, list[int]] = {}
        self.grams: dict[int, frozenset[str]] = {}

    def add(self, n: int, key: str | None) -> None:
        if key is None:
            return
        grams = self.grams[n] = trigrams(key)
        for gram in grams:
            self.postings.setdefault(gram, []).append(n)

    def similar(
        self, key: str, among: Collection[int], least: float = _THRESHOLD
    ) -> dict[int, float]:
        """Those of `among` whose key is close to `key` (`least`: pg_trgm's `%`; 0: all of
        those with a key, as `similarity` ranks them), compared one by one."""
        grams = trigrams(key)
        close = {}
        for n in among:
            theirs = self.grams.get(n)
            if theirs is None:
                continue
            similarity = trigram_similarity(len(grams & theirs), len(grams), len(theirs))
            if similarity >= least:
                close[n] = similarity
        return close

    def close_to(self, key: str) -> dict[int, float]:
        """Accepted records whose key is close to `key` (`key % theirs`), with the similarity."""
        grams = trigrams(key)
        shared: Counter[int] = Counter()
        for gram in grams:
            shared.update(self.postings.get(gram, ()))
        close = {}
        for n, count in shared.items():
            similarity = trigram_similarity(count, len(grams), len(self.grams[n]))
            if similarity >= _THRESHOLD:
                close[n] = similarity
        return close


class _People:
    """The accepted records' person keys (`match_keys.person_keys`), as their GIN index finds
    them: those that share one."""

    def __init__(self) -> None:
        self.postings: dict[str, list[int]] = {}

    def add(self, n: int, name: str | None, company: str | None) -> None:
        for key in match_keys.person_keys(name, company) or ():
            self.postings.setdefault(key, []).append(n)

    def sharing(self, name: str, company: str) -> set[int]:
        keys = match_keys.person_keys(name, company) or ()
        return {n for key in keys for n in self.postings.get(key, ())}


@dataclass
class _Accepted:
    kind: DuplicateResource
    id: uuid.UUID
    stored: Comparable


@dataclass
class Batch:
    """A batch's probes, in file order, with their candidates among the stored records."""

    resource: DuplicateResource
    rules: list[service.ActiveRule]
    probes: list[Comparable]
    lookups: list[Lookups]
    stored: list[list[Found]]
    accepted: dict[int, _Accepted] = field(default_factory=dict)
    _emails: dict[str, list[int]] = field(default_factory=dict)
    _phones: dict[str, list[int]] = field(default_factory=dict)
    _tax_codes: dict[str, list[int]] = field(default_factory=dict)
    _names: _Near = field(default_factory=_Near)
    _companies: _Near = field(default_factory=_Near)
    _people: _People = field(default_factory=_People)

    def duplicates(self, n: int) -> list[Duplicate]:
        """The `n`th probe's duplicates, strongest first, as `find_duplicates` would give them
        with every record accepted before it stored."""
        if not self.rules:
            return []
        found = self.stored[n] + self._in_batch(n)
        return service.scored(self.rules, self.probes[n], found)

    def accept(
        self, n: int, kind: DuplicateResource, record_id: uuid.UUID, stored: Comparable
    ) -> None:
        """The `n`th record will be saved as `record_id`, its keys as stored: the probes after
        it find it from now on."""
        self.accepted[n] = _Accepted(kind, record_id, stored)
        for index, key in (
            (self._emails, stored.email),
            (self._phones, stored.phone),
            (self._tax_codes, stored.tax_code),
        ):
            if key is not None:
                index.setdefault(key, []).append(n)
        self._names.add(n, stored.name)
        self._companies.add(n, stored.company)
        self._people.add(n, stored.name, stored.company)

    def _in_batch(self, n: int) -> list[Found]:
        """What each part of the look-up finds among the accepted records (see
        `candidates._parts`), each part its closest `PER_PART`."""
        probe, lookups = self.probes[n], self.lookups[n]
        parts: list[list[int]] = []
        keys: list[int] = []
        if lookups.email and probe.email is not None:
            keys += self._emails.get(probe.email, [])
        if lookups.phone and probe.phone is not None:
            keys += self._phones.get(probe.phone, [])
        if lookups.tax_code and probe.tax_code is not None:
            keys += self._tax_codes.get(probe.tax_code, [])
        parts.append(sorted(set(keys))[:PER_PART])
        if lookups.name and probe.name is not None:
            parts.append(_closest(self._names.close_to(probe.name), {}))
        organisation = self.resource is DuplicateResource.account
        if lookups.company and probe.company is not None and not organisation:
            if probe.name is None:
                parts.append(_closest(self._companies.close_to(probe.company), {}))
            else:  # people sharing a person key, the closest first
                people = self._people.sharing(probe.name, probe.company)
                names = self._names.similar(probe.name, people, least=0.0)
                parts.append(_closest(self._companies.similar(probe.company, people, 0.0), names))
        found: list[Found] = []
        for m in sorted(set().union(*parts)):
            record = self.accepted[m]
            found.append((record.kind, record.id, record.stored))
        return found


def _closest(similar: dict[int, float], names: dict[int, float]) -> list[int]:
    ranked = sorted(similar, key=lambda m: similar[m] + names.get(m, 0.0), reverse=True)
    return ranked[:PER_PART]


async def batch_of(ctx: Ctx, resource: DuplicateResource, probes: Sequence[Comparable]) -> Batch:
    """A batch of new records of `resource` to check: the identities they claim locked (as
    `one_identity_at_a_time` locks one record's), their candidates among the stored records
    found, all in this transaction. The caller set the trigram threshold for it
    (`use_trigram_threshold`)."""
    rules = await service.active_rules(ctx, resource)
    probes = list(probes)
    lookups = [candidates.lookups_for([r.criteria for r in rules], p) for p in probes]
    stored: list[list[Found]] = [[] for _ in probes]
    if rules:
        await service.identities_at_a_time(ctx, probes)
        pairs = list(zip(probes, lookups, strict=True))
        stored = await candidates.candidates_of_batch(ctx, resource, pairs)
    return Batch(resource, rules, probes, lookups, stored)
