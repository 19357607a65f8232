import pytest
from hypothesis import given
from hypothesis import strategies as st

from pymosn.api.headers import HeaderMap, RequestHeaderMap


def _request(pairs):
    return RequestHeaderMap(pairs, [n.lower() for n, _ in pairs], b"POST", b"/a?b=1", b"https")


def test_reads_work_on_the_codecs_lists_without_copying():
    pairs = [(b"Host", b"a.example"), (b"X-A", b"1"), (b"x-a", b"2")]
    lower = [b"host", b"x-a", b"x-a"]
    headers = HeaderMap(pairs, lower)
    assert headers.get(b"x-a") == b"1"
    assert headers.get(b"missing") is None
    assert headers.get_all(b"x-a") == [b"1", b"2"]
    assert headers.get_all(b"missing") == []
    assert b"host" in headers and b"nope" not in headers
    assert list(headers) == [(b"host", b"a.example"), (b"x-a", b"1"), (b"x-a", b"2")]
    assert len(headers) == 3
    assert headers.pairs() is pairs and headers.lower_names() is lower
    assert not headers.changed


def test_the_first_write_copies_once_and_leaves_the_codecs_lists_alone():
    pairs = [(b"Host", b"a"), (b"X-A", b"1")]
    lower = [b"host", b"x-a"]
    headers = HeaderMap(pairs, lower)
    headers.add(b"x-b", b"2")
    assert headers.changed
    copied = headers.pairs()
    assert copied is not pairs
    assert pairs == [(b"Host", b"a"), (b"X-A", b"1")] and lower == [b"host", b"x-a"]
    headers.add(b"x-c", b"3")
    assert headers.pairs() is copied  # later writes edit the copy
    assert headers.get(b"x-c") == b"3"


def test_set_replaces_every_field_of_a_name_in_the_first_ones_place():
    headers = HeaderMap.of([(b"a", b"1"), (b"B", b"2"), (b"a", b"3"), (b"c", b"4")])
    headers.set(b"a", b"9")
    assert headers.pairs() == [(b"a", b"9"), (b"B", b"2"), (b"c", b"4")]
    headers.set(b"d", b"5")
    assert headers.pairs()[-1] == (b"d", b"5")
    assert headers.get_all(b"a") == [b"9"]


@pytest.mark.parametrize("make", [HeaderMap, lambda pairs, lower: RequestHeaderMap(pairs, lower, b"GET", b"/")])
def test_set_and_add_of_an_absent_name_copy_once_then_append(make):
    pairs = [(b"Host", b"a"), (b"X-A", b"1")]
    lower = [b"host", b"x-a"]
    headers = make(pairs, lower)
    headers.set(b"x-new", b"v")
    assert headers.changed
    assert headers.pairs() == [(b"Host", b"a"), (b"X-A", b"1"), (b"x-new", b"v")]
    assert headers.lower_names() == [b"host", b"x-a", b"x-new"]
    assert pairs == [(b"Host", b"a"), (b"X-A", b"1")] and lower == [b"host", b"x-a"]
    copied = headers.pairs()
    headers.add(b"x-other", b"w")
    headers.set(b"x-third", b"z")
    assert headers.pairs() is copied  # owned now: appended in place
    assert headers.get(b"x-other") == b"w" and headers.get(b"x-third") == b"z"
    assert pairs == [(b"Host", b"a"), (b"X-A", b"1")] and lower == [b"host", b"x-a"]


@pytest.mark.parametrize("make", [HeaderMap, lambda pairs, lower: RequestHeaderMap(pairs, lower, b"GET", b"/")])
def test_set_of_a_present_name_matches_it_in_any_received_case(make):
    pairs = [(b"X-Trace", b"1"), (b"Accept", b"*/*"), (b"x-TRACE", b"2")]
    lower = [b"x-trace", b"accept", b"x-trace"]
    headers = make(pairs, lower)
    headers.set(b"x-trace", b"9")
    assert headers.pairs() == [(b"X-Trace", b"9"), (b"Accept", b"*/*")]  # one field, the first's place and case
    assert headers.get_all(b"x-trace") == [b"9"]
    assert pairs[0] == (b"X-Trace", b"1") and len(pairs) == 3  # the codec's lists were copied first
    headers.set(b"accept", b"text/html")  # present once: replaced in place
    assert headers.pairs() == [(b"X-Trace", b"9"), (b"Accept", b"text/html")]
    headers.add(b"accept", b"a/b")
    assert headers.get_all(b"accept") == [b"text/html", b"a/b"]


def test_set_keeps_the_received_case_of_the_replaced_name():
    headers = HeaderMap.of([(b"X-Trace", b"1")])
    headers.set(b"x-trace", b"2")
    assert headers.pairs() == [(b"X-Trace", b"2")]


def test_remove_drops_all_and_counts_and_removing_nothing_does_not_copy():
    pairs = [(b"a", b"1"), (b"b", b"2"), (b"a", b"3")]
    headers = HeaderMap.of(pairs)
    assert headers.remove(b"zzz") == 0
    assert not headers.changed and headers.pairs() is pairs
    assert headers.remove(b"a") == 2
    assert headers.pairs() == [(b"b", b"2")] and list(headers) == [(b"b", b"2")]
    assert b"a" not in headers


def test_append_joins_a_list_value_or_adds_it():
    headers = HeaderMap.of([(b"via", b"1.1 a")])
    headers.append(b"via", b"1.1 b")
    headers.append(b"x-new", b"v")
    assert headers.get(b"via") == b"1.1 a,1.1 b"
    assert headers.get(b"x-new") == b"v"


def test_request_pseudo_headers_read_from_the_request_line_and_host():
    headers = _request([(b"Host", b"svc.local"), (b"accept", b"*/*")])
    assert headers.get(b":method") == b"POST"
    assert headers.get(b":path") == b"/a?b=1"
    assert headers.get(b":scheme") == b"https"
    assert headers.get(b":authority") == b"svc.local"
    assert headers.get(b":status") is None
    assert b":path" in headers and b":authority" in headers and b":status" not in headers
    assert len(headers) == 2  # the pseudo-headers are not pairs a codec encodes
    assert not headers.changed


def test_writing_a_pseudo_header_marks_the_map_changed_and_keeps_pairs_encodable():
    pairs = [(b"host", b"a"), (b"accept", b"*/*")]
    headers = _request(pairs)
    headers.set(b":path", b"/rewritten")
    assert headers.changed and headers.path == b"/rewritten"
    assert headers.pairs() is pairs  # the pairs themselves were not written
    headers.set(b":authority", b"b")
    assert headers.get(b"host") == b"b" and headers.pairs() is not pairs
    headers.set(b":method", b"PUT")
    assert headers.method == b"PUT"


def test_pseudo_headers_cannot_be_added_removed_or_invented():
    headers = _request([(b"host", b"a")])
    with pytest.raises(ValueError):
        headers.add(b":path", b"/x")
    with pytest.raises(ValueError):
        headers.remove(b":path")
    with pytest.raises(ValueError):
        headers.set(b":status", b"200")
    assert headers.remove(b":authority") == 1
    assert headers.get(b":authority") is None


_NAMES = st.sampled_from([b"a", b"b", b"c"])
_OPS = st.lists(st.tuples(st.sampled_from(["add", "set", "append", "remove"]), _NAMES,
                          st.sampled_from([b"1", b"2", b"3"])), max_size=12)


@given(initial=st.lists(st.tuples(_NAMES, st.sampled_from([b"x", b"y"])), max_size=6), ops=_OPS,
       request=st.booleans())
def test_writes_behave_like_a_list_of_pairs_and_never_touch_the_codecs_lists(initial, ops, request):
    pairs = list(initial)
    lower = [name for name, _ in pairs]
    original = (list(pairs), list(lower))
    headers = RequestHeaderMap(pairs, lower) if request else HeaderMap(pairs, lower)
    model = list(pairs)
    for op, name, value in ops:
        if op == "add":
            headers.add(name, value)
            model.append((name, value))
        elif op == "set":
            headers.set(name, value)
            at = [i for i, (n, _) in enumerate(model) if n == name]
            if at:
                model[at[0]] = (name, value)
                model = [p for i, p in enumerate(model) if i == at[0] or p[0] != name]
            else:
                model.append((name, value))
        elif op == "append":
            current = next((v for n, v in model if n == name), None)
            headers.append(name, value)
            joined = value if current is None else current + b"," + value
            at = [i for i, (n, _) in enumerate(model) if n == name]
            if at:
                model[at[0]] = (name, joined)
                model = [p for i, p in enumerate(model) if i == at[0] or p[0] != name]
            else:
                model.append((name, joined))
        else:
            assert headers.remove(name) == sum(1 for n, _ in model if n == name)
            model = [p for p in model if p[0] != name]
    assert headers.pairs() == model and list(headers) == model and len(headers) == len(model)
    assert headers.lower_names() == [name for name, _ in model]
    # every write but a remove of nothing changed the map
    assert headers.changed == any(op != "remove" or name in original[1] for op, name, _ in ops)
    for name in (b"a", b"b", b"c"):
        assert headers.get_all(name) == [v for n, v in model if n == name]
    assert (pairs, lower) == original
