"""The row view's pure rules: keys in PostgreSQL's order whichever road reads them, labels, and
changed columns compared on the text PostgreSQL wrote."""

from __future__ import annotations

from tenant_backup_gui.core import rowview as rv

COLS = [{"name": "id", "type": "bigint"}, {"name": "note", "type": "text"}]


def test_keys_sort_as_postgres_orders_them_on_the_fast_and_the_slow_road():
    view = rv.TableView.of("t", COLS, ["id"])
    ids = [5, -3, 10, 2 ** 63 - 1, -(2 ** 63), 0]
    lines = [f'{{"id":{i},"note":"x"}}'.encode() for i in ids]
    fast = view.block_sort_keys(lines)
    assert fast == [view.sort_key_of(line) for line in lines] == [rv.sort_key((str(i),)) for i in ids]
    assert [i for _, i in sorted(zip(fast, ids))] == sorted(ids)
    huge = lines + [b'{"id":123456789012345678901234567890,"note":null}']  # past 64 bits: the slow road, as text
    assert len(view.block_sort_keys(huge)) == len(huge)

    text = rv.TableView.of("u", [{"name": "code", "type": "text"}, {"name": "n"}], ["code"])
    codes = ["ab c", "ab", "a\"b", "é", "Z"]
    lines = [rv.json.dumps({"code": c, "n": 1}, ensure_ascii=False, separators=(",", ":")).encode() for c in codes]
    keys = text.block_sort_keys(lines)  # one escaped quote: every line takes the per-line road
    assert [c for _, c in sorted(zip(keys, codes))] == sorted(codes, key=lambda c: c.encode())
    assert text.key_needle(("a\"b",)) is None and text.key_needle(("ab",)) == b'{"code":"ab"'


def test_composite_keys_labels_and_changes():
    view = rv.TableView.of("x", [{"name": "org"}, {"name": "code", "type": "text"}, {"name": "title", "type": "text"}],
                           ["org", "code"])
    line = b'{"org":"o1","code":"a:b","title":"Hello"}'
    assert view.key_of(line) == ("o1", "a:b") and view.parse_key("o1:a:b") == ("o1", "a:b")
    row = rv.parse_row(line)
    assert view.label(row, view.key_of(line)) == "Hello"
    old = rv.parse_row(b'{"n":1.50,"f":-0,"big":12345678901234567890123,"s":"NaN","b":true,"z":null}')
    new = rv.parse_row(b'{"n":1.5,"f":-0,"big":12345678901234567890123,"s":"NaN","b":false,"z":null}')
    assert [(c.column, c.old, c.new) for c in rv.compare(old, new)] == [("n", "1.50", "1.5"), ("b", "true", "false")]
    assert rv.matches(new, "nan") and not rv.matches(new, "big")
    assert rv.choose_label([{"name": "id"}, {"name": "invoice_number", "type": "text"}], ["id"]) == "invoice_number"
