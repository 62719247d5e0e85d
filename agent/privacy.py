"""Feature allow/deny lists and keyed hashing, applied before a record leaves the process.

The plan for a set of feature names is computed once and cached, so a batch costs one
column selection, not a per-feature policy lookup per row.
"""

import hashlib
import hmac
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from modeltel.agent.settings import FeaturePolicy


class FeatureFilter:
    def __init__(self, policy: FeaturePolicy) -> None:
        self.policy = policy
        self._plan = lru_cache(maxsize=256)(self._make_plan)

    def _make_plan(self, names: tuple[str, ...]) -> tuple[tuple[int, ...], tuple[str, ...], frozenset[int]]:
        policy = self.policy
        kept = [
            index
            for index, name in enumerate(names)
            if (policy.allow is None or name in policy.allow) and name not in policy.deny
        ]
        hashed = frozenset(position for position, index in enumerate(kept) if names[index] in policy.hash)
        return tuple(kept), tuple(names[index] for index in kept), hashed

    def hash_value(self, value: Any) -> Any:
        """``None`` stays ``None``: whether a value is missing is itself a data-quality signal."""
        if value is None:
            return None
        data = str(value).encode()
        key = self.policy.hash_key
        digest = hmac.new(key, data, hashlib.sha256) if key else hashlib.sha256(data)
        return digest.hexdigest()[:32]

    def rows(self, names: Sequence[str], rows: list[list[Any]]) -> list[dict[str, Any]]:
        """Each row as a name → value mapping with the policy applied."""
        if self.policy.is_open:
            return [dict(zip(names, row, strict=False)) for row in rows]
        kept, kept_names, hashed = self._plan(tuple(names))
        out = []
        for row in rows:
            values = [row[index] for index in kept]
            for position in hashed:
                values[position] = self.hash_value(values[position])
            out.append(dict(zip(kept_names, values, strict=False)))
        return out

    def mapping(self, features: dict[str, Any]) -> dict[str, Any]:
        if self.policy.is_open:
            return features
        names = list(features)
        return self.rows(names, [list(features.values())])[0]
