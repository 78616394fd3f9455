"""Label and field selectors: what `kubectl get -l ... --field-selector ...` sees."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from localcluster.apiserver.selectors import (
    FieldSelector,
    LabelSelector,
    Requirement,
    SelectorError,
    go_quote,
    is_dns1035_label,
    is_dns1123_label,
    is_qualified_name,
    label_selector_from_dict,
)

LABELS = {"app": "web", "tier": "frontend", "version": "3"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("app=web", True),
        ("app==web", True),
        ("app!=web", False),
        ("app!=db", True),
        ("app", True),
        ("!app", False),
        ("!missing", True),
        ("missing", False),
        ("app in (web,db)", True),
        ("app in (db)", False),
        ("app notin (db)", True),
        ("app notin (web)", False),
        ("missing notin (x)", True),
        ("missing!=x", True),
        ("app=web,tier=frontend", True),
        ("app=web,tier=backend", False),
        ("  app = web ,  tier in ( frontend , x )  ", True),
        ("version>2", True),
        ("version<3", False),
        ("app>1", False),
        ("", True),
        ("app=", False),
        ("missing=", False),
    ],
)
def test_label_selector_matches(text: str, expected: bool) -> None:
    assert LabelSelector.parse(text).matches(LABELS) is expected


def test_empty_value_in_set_matches_empty_label() -> None:
    sel = LabelSelector.parse("x in (foo,,baz),y,z notin ()")
    assert sel.requirements[0] == Requirement("x", "in", ("", "baz", "foo"))
    assert sel.matches({"x": "", "y": "1"})
    assert not sel.matches({"x": "", "y": "1", "z": ""})


def test_string_form_is_sorted_like_the_server() -> None:
    sel = LabelSelector.parse("tier in (b,a),app=web,!gone,ready")
    assert str(sel) == "app=web,!gone,ready,tier in (a,b)"


def test_keywords_are_values_in_value_position() -> None:
    assert LabelSelector.parse("in in (in,notin)").matches({"in": "notin"})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "app:monolith",
            'unable to parse requirement: <nil>: Invalid value: "app:monolith": name part must consist of '
            "alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character "
            "(e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
            "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
        ),
        (
            "app=-bad",
            'unable to parse requirement: values[0][app]: Invalid value: "-bad": a valid label must be an '
            "empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with "
            "an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation "
            "is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
        ),
        ("a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"),
        ("a,", "found '', expected: identifier after ','"),
        ("a=b)", "found ')', expected: ',' or 'end of string'"),
        ("(a", "found '(', expected: !, identifier, or 'end of string'"),
        ("a in b", "unable to parse requirement: found 'b' expected: '('"),
        ("a in (x y)", "unable to parse requirement: found 'y', expected: ',' or ')'"),
        ("a in (=)", "unable to parse requirement: found '=', expected: ',', ')' or identifier"),
        (
            "a>x",
            "unable to parse requirement: values[0]: Invalid value: \"x\": for 'Gt', 'Lt' operators, the value "
            "must be an integer",
        ),
        ("!a=b", "found '=', expected: ',' or 'end of string'"),
    ],
)
def test_label_selector_errors_match_the_server(text: str, message: str) -> None:
    with pytest.raises(SelectorError) as err:
        LabelSelector.parse(text)
    assert str(err.value) == message


def test_bad_prefix_names_the_prefix() -> None:
    with pytest.raises(SelectorError, match=r'"app\.kubernetes_io/name": prefix part a lowercase RFC 1123'):
        LabelSelector.parse("app.kubernetes_io/name=x")


def test_too_many_slashes() -> None:
    with pytest.raises(
        SelectorError, match=r"a qualified name must consist.*with an optional DNS subdomain prefix"
    ):
        LabelSelector.parse("a/b/c=d")


def test_requires_exact_match() -> None:
    sel = LabelSelector.parse("app=web,tier in (a,b)")
    assert sel.requires_exact_match("app") == "web"
    assert sel.requires_exact_match("tier") is None
    assert sel.requires_exact_match("other") is None


def test_metav1_label_selector() -> None:
    sel = label_selector_from_dict(
        {
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["b", "a"]},
                {"key": "gone", "operator": "DoesNotExist"},
                {"key": "canary", "operator": "NotIn", "values": ["true"]},
                {"key": "zone", "operator": "Exists"},
            ],
        }
    )
    assert str(sel) == "app=web,canary notin (true),!gone,tier in (a,b),zone"
    assert sel.matches({"app": "web", "tier": "a", "zone": "z"})
    assert not sel.matches({"app": "web", "tier": "a"})


def test_metav1_nil_matches_nothing_and_empty_matches_everything() -> None:
    assert not label_selector_from_dict(None).matches({"a": "b"})
    assert label_selector_from_dict({}).matches({"a": "b"})
    assert label_selector_from_dict({}).empty


def test_metav1_errors() -> None:
    with pytest.raises(SelectorError, match='"Foo" is not a valid label selector operator'):
        label_selector_from_dict({"matchExpressions": [{"key": "a", "operator": "Foo"}]})
    with pytest.raises(SelectorError, match="for 'in', 'notin' operators, values set can't be empty"):
        label_selector_from_dict({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]})
    with pytest.raises(SelectorError, match=r"values set must be empty for exists"):
        label_selector_from_dict({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]})
    with pytest.raises(SelectorError, match=r'^key: Invalid value: "-a"'):
        label_selector_from_dict({"matchLabels": {"-a": "b"}})


def test_name_formats() -> None:
    assert is_qualified_name("example.com/name") == []
    assert is_qualified_name("app.kubernetes.io/")[0] == "name part must be non-empty"
    assert is_qualified_name("/x") == ["prefix part must be non-empty"]
    assert is_qualified_name("a" * 64) == ["name part must be no more than 63 characters"]
    assert is_dns1123_label("a.b") == ["must not contain dots"]
    assert is_dns1035_label("1abc")[0].startswith("a DNS-1035 label must consist")
    assert go_quote('say "hi"\n') == '"say \\"hi\\"\\n"'


_key = st.from_regex(
    r"([a-z]{1,5}(\.[a-z]{1,4})?/)?[A-Za-z0-9]([A-Za-z0-9_.-]{0,6}[A-Za-z0-9])?", fullmatch=True
)
_value = st.from_regex(r"([A-Za-z0-9]([A-Za-z0-9_.-]{0,6}[A-Za-z0-9])?)?", fullmatch=True)
_requirement = st.one_of(
    st.builds(lambda k, v, op: f"{k}{op}{v}", _key, _value, st.sampled_from(["=", "==", "!="])),
    st.builds(lambda k: k, _key),
    st.builds(lambda k: f"!{k}", _key),
    st.builds(
        lambda k, vs, op: f"{k} {op} ({','.join(vs)})",
        _key,
        st.lists(_value, min_size=1, max_size=3),
        st.sampled_from(["in", "notin"]),
    ),
    st.builds(lambda k, n, op: f"{k}{op}{n}", _key, st.integers(0, 99), st.sampled_from([">", "<"])),
)


@given(st.lists(_requirement, min_size=1, max_size=4), st.dictionaries(_key, _value, max_size=4))
def test_round_trip_and_matching_are_stable(reqs: list[str], labels: dict[str, str]) -> None:
    sel = LabelSelector.parse(",".join(reqs))
    again = LabelSelector.parse(str(sel))
    assert again == sel
    assert again.matches(labels) == sel.matches(labels)
    assert sel.matches(labels) == all(LabelSelector.parse(r).matches(labels) for r in reqs)


# -- field selectors -----------------------------------------------------------------------------

POD = {
    "metadata": {"name": "web-1", "namespace": "default"},
    "spec": {"nodeName": "node-a", "restartPolicy": "Always"},
    "status": {"phase": "Running", "podIPs": [{"ip": "10.0.0.7"}], "podIP": "10.0.0.7"},
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("metadata.name=web-1", True),
        ("metadata.name==web-1", True),
        ("metadata.name!=web-1", False),
        ("status.phase=Running,spec.nodeName=node-a", True),
        ("status.phase=Running,spec.nodeName=node-b", False),
        ("spec.nodeName!=", True),
        ("status.podIP=10.0.0.7", True),
        ("spec.schedulerName=", True),
        ("spec.hostNetwork=false", True),
        ("", True),
    ],
)
def test_field_selector_matches_pods(text: str, expected: bool) -> None:
    sel = FieldSelector.parse(text)
    sel.check_supported("pods")
    assert sel.matches(POD) is expected


def test_field_selector_events_and_zero_values() -> None:
    event = {
        "involvedObject": {"kind": "Pod", "name": "web-1", "uid": "u1"},
        "reason": "Started",
        "type": "Normal",
        "source": {"component": "kubelet"},
        "reportingController": "kubelet",
    }
    sel = FieldSelector.parse("involvedObject.kind=Pod,involvedObject.name=web-1,source=kubelet,type=Normal")
    sel.check_supported("events")
    assert sel.matches(event)
    assert FieldSelector.parse("reportingComponent=kubelet").matches(event)
    assert FieldSelector.parse("status.replicas=0").matches({"status": {}})
    assert FieldSelector.parse("status.successful=2").matches({"status": {"succeeded": 2}})


@pytest.mark.parametrize(
    ("resource", "field"),
    [
        ("pods", "spec.foo"),
        ("Pod", "status.containerStatuses"),
        ("configmaps", "data.x"),
        ("secrets", "status.phase"),
    ],
)
def test_unsupported_field_label(resource: str, field: str) -> None:
    with pytest.raises(SelectorError) as err:
        FieldSelector.parse(f"{field}=x").check_supported(resource)
    assert str(err.value) == f"field label not supported: {field}"


def test_supported_sets() -> None:
    FieldSelector.parse("type=Opaque").check_supported("secrets")
    FieldSelector.parse("status.phase=Active").check_supported("Namespace")
    FieldSelector.parse("status.replicas=0").check_supported("replicasets")
    FieldSelector.parse("status.successful=1").check_supported("jobs")
    FieldSelector.parse("metadata.namespace=x").check_supported("deployments")
    FieldSelector.parse("spec.color=red").check_supported("widgets", extra=[".spec.color"])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("foo", "invalid selector: 'foo'; can't understand 'foo'"),
        ("a=b=c", "invalid field selector: unescaped character in value: 61"),
        ("a=\\x", "invalid field selector: invalid escape sequence: \\x"),
    ],
)
def test_field_selector_errors(text: str, message: str) -> None:
    with pytest.raises(SelectorError) as err:
        FieldSelector.parse(text)
    assert str(err.value) == message


def test_field_selector_escapes_round_trip() -> None:
    sel = FieldSelector.parse("metadata.name=a\\,b\\=c\\\\d")
    assert sel.terms == (("metadata.name", "=", "a,b=c\\d"),)
    assert FieldSelector.parse(str(sel)) == sel
    assert sel.requires_exact_match("metadata.name") == "a,b=c\\d"


def test_negative_numbers_are_not_label_values() -> None:
    with pytest.raises(SelectorError, match=r'values\[0\]\[n\]: Invalid value: "-1"'):
        LabelSelector.parse("n>-1")
