import pandas as pd

from platform_core.hashing import content_hash
from platform_core.privacy import RawIds, find_raw_ids, pseudonymize
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


def test_raw_ids_are_found_anywhere_in_text_columns():
    frames = {"t": pd.DataFrame({"x": ['{"note":"from user-0042"}', "clean"], "n": [1, 2]})}
    assert find_raw_ids(frames, ["user-0042", "user-9999"]) == {"t.x": 1}
    assert find_raw_ids(frames, ["user-9999"]) == {}


def test_ids_are_matched_as_whole_tokens_only():
    frames = {"t": pd.DataFrame({"x": ["priority high", "highly rated", "order 1234567890", "id 123456789."]})}
    assert find_raw_ids(frames, ["high", "123456789"]) == {"t.x": 2}
    assert find_raw_ids(frames, ["high"], columns={"t": []}) == {}, "only the columns that can carry an id are checked"


def test_every_users_raw_id_is_scrubbed_and_json_stays_json():
    ids = RawIds(["user-1", "alice@example.com", "123456789"])
    texts = pd.Series(["by user-1 and alice@example.com", "user-12 is someone else", None])
    assert ids.scrub(texts).tolist() == ["by [user] and [user]", "user-12 is someone else", None]
    out = ids.scrub_json(pd.Series(['{"by":"user-1","order":123456789,"n":1234567890}']))
    assert out.tolist() == ['{"by":"[user]","n":1234567890,"order":"[user]"}']


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
