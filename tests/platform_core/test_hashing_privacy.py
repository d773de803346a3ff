import pandas as pd

from platform_core.hashing import content_hash
from platform_core.privacy import find_raw_ids, pseudonymize, scrub
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


def test_scrub_removes_each_rows_own_id():
    out = scrub(pd.Series(['{"by":"user-1"}', '{"by":"user-1"}']), pd.Series(["user-1", "user-2"]))
    assert out.tolist() == ['{"by":"[user]"}', '{"by":"user-1"}']
