import pandas as pd

from platform_core.hashing import content_hash
from platform_core.privacy import People, RawIds, find_raw_ids, pseudonymize
from tests.platform_core.test_warehouse import D1, SPEC, frame


def test_content_hash_ignores_row_order_but_not_values():
    f = frame(D1, ["a", "b", "c"])
    assert content_hash(SPEC, f) == content_hash(SPEC, f.iloc[::-1])
    assert content_hash(SPEC, f) != content_hash(SPEC, f.assign(value=[1.0, 1.0, 1.0000001]))


def test_pseudonyms_are_stable_salted_and_keep_nulls():
    ids = pd.Series(["alice", "bob", None, "alice"], dtype="object")
    a, b = pseudonymize(ids, "salt-1"), pseudonymize(ids, "salt-2")
    assert a[0] == a[3] and a[0] != a[1] and a[2] is None
    assert a[0].startswith("p_") and len(a[0]) == 26
    assert a[0] != b[0]


def test_raw_ids_are_found_in_every_text_column():
    frames = {"t": pd.DataFrame({"x": ['{"note":"from user-0042"}', "clean"], "y": ["user-0042", None], "n": [1, 2]})}
    assert find_raw_ids(frames, ["user-0042", "user-9999"]) == {"t.x": 1, "t.y": 1}
    assert find_raw_ids(frames, ["user-9999"]) == {}


def test_ids_are_matched_as_whole_tokens_only():
    frames = {"t": pd.DataFrame({"x": ["order 1234567890", "id 123456789.", "user-12 is someone else"]})}
    assert find_raw_ids(frames, ["123456789", "user-1"]) == {"t.x": 1}


def test_a_word_is_an_id_only_in_its_owners_rows():
    """A user named ``checkout`` cannot erase the word from others' text, but loses it from their own."""
    ids = RawIds(["checkout", "high", "schema_version", "bob@example.com"])
    texts = pd.Series(["checkout fails at high load", "checkout fails", "mail bob@example.com", None])
    owners = pd.Series(["ann", "checkout", "ann", "ann"])
    assert ids.scrub(texts, owners).tolist() == [
        "checkout fails at high load",
        "[user] fails",
        "mail [user]",
        None,
    ]
    assert ids.scrub(texts).tolist()[:3] == ["checkout fails at high load", "checkout fails", "mail [user]"]
    assert ids.count(ids.scrub(texts, owners), owners) == 0
    out = ids.scrub_json(
        pd.Series(['{"schema_version":1,"x":"high"}', '{"by":"checkout"}']), pd.Series(["a", "checkout"])
    )
    assert out.tolist() == ['{"schema_version":1,"x":"high"}', '{"by":"[user]"}']


def test_the_placeholder_is_never_an_id():
    """Users named ``user`` or ``[user]`` cannot make every scrubbed text a leak."""
    ids = RawIds(["user", "[user]", "u-1234"])
    scrubbed = ids.scrub(pd.Series(["by u-1234 and user"]), pd.Series(["user"]))
    assert scrubbed.tolist() == ["by [user] and [user]"]
    assert ids.count(scrubbed, pd.Series(["user"])) == 0
    assert ids.count(scrubbed, pd.Series(["[user]"])) == 0


def test_every_users_raw_id_is_scrubbed_and_json_stays_json():
    ids = RawIds(["user-1", "alice@example.com", "123456789"])
    texts = pd.Series(["by user-1 and alice@example.com", "user-12 is someone else", None])
    assert ids.scrub(texts).tolist() == ["by [user] and [user]", "user-12 is someone else", None]
    out = ids.scrub_json(pd.Series(['{"by":"user-1","order":123456789,"n":1234567890}']))
    assert out.tolist() == ['{"by":"[user]","n":1234567890,"order":"[user]"}']


def test_pseudonyms_alone_find_the_ids_the_rule_names():
    """Downstream of pseudonymization a step holds no raw id: the check hashes candidate tokens."""
    users = pd.Series(["alice@example.com", "checkout", "3f2a9c1e-77aa-4c1b-9d2e-0b8f5e6a7c10"])
    pseudonyms = pseudonymize(users, "s")
    people = People("s", pseudonyms=pseudonyms)
    texts = pd.Series(
        [
            '{"note":"ask alice@example.com"}',
            "checkout fails",
            "session 3f2a9c1e-77aa-4c1b-9d2e-0b8f5e6a7c10 froze",
            "checkout fails [user]",
        ]
    )
    assert people.count(texts) == 2, "the e-mail and the UUID; a word is no id in a row of no one"
    assert people.count(texts, pd.Series([None, pseudonyms[1], None, None])) == 3, "the owner's word is"
    assert People("s", raw_ids=users).count(texts, pd.Series([None, pseudonyms[1], None, None])) == 3
    assert People("other salt", pseudonyms=pseudonyms).count(texts) == 0


def test_a_raw_input_fingerprint_ignores_row_order_and_sees_every_value():
    import numpy as np

    from platform_core.hashing import rows_fingerprint

    rows = pd.DataFrame(
        {"id": ["a", "b", "c"], "n": [1, 2, None], "v": [np.ones(3, np.float32), np.zeros(3, np.float32), None]}
    )
    same = rows_fingerprint(rows)
    assert rows_fingerprint(rows.iloc[[2, 0, 1]]) == same
    assert rows_fingerprint(rows.assign(n=[1, 2, 3])) != same, "a missing value is not any value"
    changed = rows.copy()
    changed.at[1, "v"] = np.array([0, 0, 1e-7], np.float32)
    assert rows_fingerprint(changed) != same, "an embedding is hashed by its bytes"
    assert rows_fingerprint(rows.iloc[:0]) != same
