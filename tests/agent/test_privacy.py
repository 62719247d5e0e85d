"""Allow/deny lists and keyed hashing of features."""

import hashlib
import hmac

from modeltel.agent.privacy import FeatureFilter
from modeltel.agent.settings import FeaturePolicy

NAMES = ["age", "zip", "email", "income"]
ROWS = [[41, "10115", "a@b.c", 52000.0], [35, "80331", None, float("nan")]]


def test_open_policy_keeps_everything() -> None:
    assert FeatureFilter(FeaturePolicy()).rows(NAMES, ROWS)[0] == dict(zip(NAMES, ROWS[0], strict=True))


def test_allow_list_keeps_only_named_features_and_deny_wins() -> None:
    policy = FeaturePolicy(allow=frozenset({"age", "zip", "income"}), deny=frozenset({"zip"}))
    rows = FeatureFilter(policy).rows(NAMES, ROWS)
    assert [list(row) for row in rows] == [["age", "income"], ["age", "income"]]


def test_hashed_fields_are_keyed_hmac_and_missing_stays_missing() -> None:
    policy = FeaturePolicy(hash=frozenset({"email", "zip"}), hash_key=b"secret")
    rows = FeatureFilter(policy).rows(NAMES, ROWS)
    assert rows[0]["email"] == hmac.new(b"secret", b"a@b.c", hashlib.sha256).hexdigest()[:32]
    assert rows[0]["zip"] != "10115" and len(rows[0]["zip"]) == 32
    assert rows[1]["email"] is None
    assert rows[0]["age"] == 41


def test_unkeyed_hash_is_plain_sha256() -> None:
    rows = FeatureFilter(FeaturePolicy(hash=frozenset({"email"}))).rows(NAMES, ROWS)
    assert rows[0]["email"] == hashlib.sha256(b"a@b.c").hexdigest()[:32]


def test_mapping_form_applies_the_same_policy() -> None:
    policy = FeaturePolicy(deny=frozenset({"email"}))
    assert FeatureFilter(policy).mapping({"age": 1, "email": "x"}) == {"age": 1}
