"""Schema validation, unknown fields, pruning and defaulting as the API server reports them."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from localcluster.apiserver.schema import Schema, builtin_schema, crd_schema
from localcluster.apiserver.validation import (
    DUPLICATE,
    INVALID,
    NOT_SUPPORTED,
    REQUIRED,
    TOO_LONG,
    TOO_MANY,
    TYPE_INVALID,
    FieldError,
    apply_defaults,
    go_float,
    prune,
    strict_decoding_error,
    unknown_field_warnings,
    unknown_fields,
    validate,
    validate_crd,
    validate_object_meta,
)

OPENAPI: dict[str, Any] = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "required": ["image"],
            "properties": {
                "replicas": {"type": "integer", "minimum": 1, "maximum": 10, "default": 1},
                "image": {"type": "string", "minLength": 2, "maxLength": 20, "pattern": "^[a-z]"},
                "mode": {"type": "string", "enum": ["Fast", "Safe"], "default": "Safe"},
                "port": {"x-kubernetes-int-or-string": True},
                "weight": {"type": "number", "exclusiveMaximum": True, "maximum": 100},
                "when": {"type": "string", "format": "date-time"},
                "note": {"type": "string", "nullable": True},
                "ports": {
                    "type": "array",
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["name"],
                    "items": {
                        "type": "object",
                        "properties": {
                            "name": {"type": "string"},
                            "port": {"type": "integer", "default": 80},
                        },
                    },
                },
                "tags": {
                    "type": "array",
                    "maxItems": 2,
                    "minItems": 1,
                    "x-kubernetes-list-type": "set",
                    "items": {"type": "string"},
                },
                "labels": {"type": "object", "additionalProperties": {"type": "string"}, "maxProperties": 2},
                "config": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "bare": {"type": "object"},
                "logging": {
                    "type": "object",
                    "default": {},
                    "properties": {"level": {"type": "string", "default": "info"}},
                },
                "template": {
                    "type": "object",
                    "x-kubernetes-embedded-resource": True,
                    "x-kubernetes-preserve-unknown-fields": True,
                },
            },
        },
        "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}},
    },
}
SCHEMA = crd_schema(OPENAPI)


def widget(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w"},
        "spec": {"image": "nginx", **spec},
    }


def messages(obj: Any, schema: Schema = SCHEMA) -> list[str]:
    return [str(e) for e in validate(obj, schema)]


def test_a_valid_object_has_no_errors() -> None:
    assert (
        validate(widget(replicas=3, mode="Fast", port="http", ports=[{"name": "a"}], note=None), SCHEMA) == []
    )


def test_type_error_reads_like_the_server() -> None:
    errs = validate(widget(replicas="abc"), SCHEMA)
    assert [str(e) for e in errs] == [
        'spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string"'
    ]
    assert errs[0].type == TYPE_INVALID
    assert errs[0].cause() == {
        "reason": "FieldValueTypeInvalid",
        "message": 'Invalid value: "string": spec.replicas in body must be of type integer: "string"',
        "field": "spec.replicas",
    }


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            {"replicas": 0},
            "spec.replicas: Invalid value: 0: spec.replicas in body should be greater than or equal to 1",
        ),
        (
            {"replicas": 11},
            "spec.replicas: Invalid value: 11: spec.replicas in body should be less than or equal to 10",
        ),
        (
            {"replicas": 1.5},
            'spec.replicas: Invalid value: "number": spec.replicas in body must be of type integer: "number"',
        ),
        ({"weight": 100}, "spec.weight: Invalid value: 100: spec.weight in body should be less than 100"),
        ({"mode": "Slow"}, 'spec.mode: Unsupported value: "Slow": supported values: "Fast", "Safe"'),
        (
            {"image": "x"},
            'spec.image: Invalid value: "x": spec.image in body should be at least 2 chars long',
        ),
        ({"image": "a" * 21}, "spec.image: Too long: may not be longer than 20"),
        (
            {"image": "Nginx"},
            "spec.image: Invalid value: \"Nginx\": spec.image in body should match '^[a-z]'",
        ),
        (
            {"port": True},
            'spec.port: Invalid value: "boolean": spec.port in body must be of type integer,string: "boolean"',
        ),
        (
            {"when": "yesterday"},
            'spec.when: Invalid value: "yesterday": spec.when in body must be of type date-time: "yesterday"',
        ),
        ({"tags": ["a", "b", "c"]}, "spec.tags: Too many: 3: must have at most 2 items"),
        ({"tags": []}, "spec.tags: Invalid value: 0: spec.tags in body should have at least 1 items"),
        ({"tags": ["a", "a"]}, 'spec.tags[1]: Duplicate value: "a"'),
        (
            {"ports": [{"name": "http"}, {"name": "http", "port": 81}]},
            'spec.ports[1]: Duplicate value: map[string]interface {}{"name":"http"}',
        ),
        ({"labels": {"a": "1", "b": "2", "c": "3"}}, "spec.labels: Too many: 3: must have at most 2 items"),
        (
            {"labels": {"a": 1}},
            'spec.labels.a: Invalid value: "integer": spec.labels.a in body must be of type string: "integer"',
        ),
        (
            {"tags": ["a", None]},
            'spec.tags[1]: Invalid value: "null": spec.tags[1] in body must be of type string: "null"',
        ),
    ],
)
def test_value_errors(spec: dict[str, Any], expected: str) -> None:
    assert messages(widget(**spec)) == [expected]


def test_error_types() -> None:
    kinds = {
        e.type
        for e in validate(
            widget(mode="x", image="A" * 30, tags=["a", "a", "b"], ports=[{"name": "a"}] * 2), SCHEMA
        )
    }
    assert kinds == {NOT_SUPPORTED, TOO_LONG, INVALID, TOO_MANY, DUPLICATE}


def test_required_field() -> None:
    obj = widget()
    del obj["spec"]["image"]
    errs = validate(obj, SCHEMA)
    assert [str(e) for e in errs] == ["spec.image: Required value"]
    assert errs[0].type == REQUIRED
    assert messages(widget(image=None)) == ["spec.image: Required value"]


def test_null_fields_count_as_unset() -> None:
    assert validate(widget(mode=None, replicas=None, note=None), SCHEMA) == []
    deploy = builtin_schema("apps/v1", "Deployment")
    assert deploy is not None
    assert validate({"metadata": {"name": "x", "creationTimestamp": None}}, deploy) == []


def test_integral_float_is_an_integer_and_int_is_a_number() -> None:
    assert validate(widget(replicas=2.0, weight=5), SCHEMA) == []


def test_enum_is_checked_even_when_the_type_is_wrong() -> None:
    assert messages(widget(mode=3)) == [
        'spec.mode: Invalid value: "integer": spec.mode in body must be of type string: "integer"',
        'spec.mode: Unsupported value: 3: supported values: "Fast", "Safe"',
    ]


def test_status_and_metadata_are_validated_too() -> None:
    obj = widget()
    obj["status"] = {"ready": "yes"}
    obj["metadata"]["labels"] = {"a": 1}
    assert set(messages(obj)) == {
        'status.ready: Invalid value: "string": status.ready in body must be of type boolean: "string"',
        'metadata.labels.a: Invalid value: "integer": metadata.labels.a in body must be of type string: "integer"',
    }


def test_path_prefix_and_combinators() -> None:
    schema = Schema({"anyOf": [{"type": "integer"}, {"type": "string", "pattern": "^[0-9]+%$"}]})
    assert validate(5, schema, path="spec.x") == []
    assert validate("50%", schema, path="spec.x") == []
    assert [str(e) for e in validate("x", schema, path="spec.x")] == [
        'spec.x: Invalid value: "": spec.x in body must validate at least one schema (anyOf)'
    ]


def test_go_float_formatting() -> None:
    assert [go_float(v) for v in (1.0, 0.5, 1e6, 123456.0, 1234567.5, 0.0001, 0.00001)] == [
        "1", "0.5", "1e+06", "123456", "1.2345675e+06", "0.0001", "1e-05"
    ]  # fmt: skip
    err = FieldError("spec.ratio", INVALID, "too big", 2e6)
    assert str(err) == "spec.ratio: Invalid value: 2e+06: too big"


# -- unknown fields and pruning ---------------------------------------------------------------------


def test_unknown_fields_in_a_custom_resource() -> None:
    obj = widget(
        foo=1,
        ports=[{"name": "a", "bogus": True}],
        config={"anything": {"goes": 1}},
        bare={"x": 1},
        labels={"any": "key"},
        template={
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "p", "junk": 1},
            "spec": {"free": 1},
        },
    )
    obj["metadata"]["extra"] = 1
    paths = unknown_fields(obj, SCHEMA)
    assert paths == [
        ".metadata.extra",
        ".spec.foo",
        ".spec.ports[0].bogus",
        ".spec.bare.x",
        ".spec.template.metadata.junk",
    ]
    assert unknown_field_warnings(paths[:1]) == ['unknown field "metadata.extra"']
    assert strict_decoding_error(paths[1:3]) == (
        'strict decoding error: unknown field "spec.foo", unknown field "spec.ports[0].bogus"'
    )


def test_prune_drops_unknown_fields_without_touching_the_input() -> None:
    obj = widget(foo=1, config={"keep": {"me": 1}}, ports=[{"name": "a", "bogus": 1}], bare={"x": 1})
    before = copy.deepcopy(obj)
    pruned = prune(obj, SCHEMA)
    assert obj == before
    assert pruned["spec"] == {
        "image": "nginx",
        "config": {"keep": {"me": 1}},
        "ports": [{"name": "a"}],
        "bare": {},
    }
    assert pruned["apiVersion"] == "example.com/v1"
    assert unknown_fields(pruned, SCHEMA) == []


def test_a_crd_without_schema_keeps_everything_but_bad_metadata() -> None:
    schema = crd_schema(None)
    obj = {"apiVersion": "x/v1", "kind": "Y", "metadata": {"name": "y", "nope": 1}, "spec": {"a": {"b": 1}}}
    assert unknown_fields(obj, schema) == [".metadata.nope"]


def test_unknown_fields_in_a_built_in_kind() -> None:
    schema = builtin_schema("apps/v1", "Deployment")
    assert schema is not None
    deploy = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}, "annotations": {"a": "b"}},
        "spec": {
            "replicas": 2,
            "foo": "bar",
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {"name": "web", "image": "nginx", "bogus": 1, "resources": {"limits": {"cpu": "1"}}}
                    ]
                },
            },
        },
    }
    assert unknown_fields(deploy, schema) == [".spec.foo", ".spec.template.spec.containers[0].bogus"]
    assert prune(deploy, schema)["spec"]["template"]["spec"]["containers"][0] == {
        "name": "web",
        "image": "nginx",
        "resources": {"limits": {"cpu": "1"}},
    }


def test_raw_extensions_keep_their_content() -> None:
    schema = builtin_schema("apps/v1", "ControllerRevision")
    assert schema is not None
    rev = {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": {"name": "r"},
        "revision": 1,
        "data": {"spec": {"x": 1}},
    }
    assert unknown_fields(rev, schema) == []


# -- defaulting -------------------------------------------------------------------------------------


def test_defaults_fill_missing_fields_recursively() -> None:
    obj = widget(ports=[{"name": "a"}, {"name": "b", "port": 8080}])
    out = apply_defaults(obj, SCHEMA)
    assert out["spec"]["replicas"] == 1
    assert out["spec"]["mode"] == "Safe"
    assert out["spec"]["logging"] == {"level": "info"}
    assert out["spec"]["ports"] == [{"name": "a", "port": 80}, {"name": "b", "port": 8080}]
    assert "replicas" not in obj["spec"]


def test_defaults_keep_user_values_and_replace_nulls() -> None:
    out = apply_defaults(widget(replicas=5, mode=None, image=None, note=None), SCHEMA)
    assert out["spec"]["replicas"] == 5
    assert out["spec"]["mode"] == "Safe"
    assert "image" not in out["spec"]
    assert out["spec"]["note"] is None


_specs = st.fixed_dictionaries(
    {},
    optional={
        "replicas": st.one_of(st.none(), st.integers(0, 5)),
        "mode": st.one_of(st.none(), st.sampled_from(["Fast", "Safe"])),
        "logging": st.one_of(st.none(), st.just({}), st.just({"level": "debug"})),
        "ports": st.lists(
            st.fixed_dictionaries({"name": st.text(max_size=3)}, optional={"port": st.integers(1, 9)}),
            max_size=3,
        ),
    },
)


@given(_specs)
def test_defaulting_twice_is_defaulting_once(spec: dict[str, Any]) -> None:
    once = apply_defaults({"spec": spec}, SCHEMA)
    assert apply_defaults(once, SCHEMA) == once
    for key, value in spec.items():
        if value is not None and key != "logging":
            assert once["spec"][key] == value or key == "ports"


# -- object metadata --------------------------------------------------------------------------------


def meta_errors(meta: dict[str, Any], namespaced: bool = True, resource: str | None = None) -> list[str]:
    return [
        str(e) for e in validate_object_meta({"metadata": meta}, namespaced=namespaced, resource=resource)
    ]


def test_object_meta() -> None:
    assert meta_errors({"name": "web", "namespace": "default"}) == []
    assert meta_errors({"namespace": "default"}) == [
        "metadata.name: Required value: name or generateName is required"
    ]
    assert meta_errors({"generateName": "web-", "namespace": "default"}) == []
    assert meta_errors({"name": "Web_1", "namespace": "default"}) == [
        'metadata.name: Invalid value: "Web_1": a lowercase RFC 1123 subdomain must consist of lower case '
        "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. "
        "'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
    ]
    assert meta_errors({"name": "web"}) == ["metadata.namespace: Required value"]
    assert meta_errors({"name": "web", "namespace": "x"}, namespaced=False) == [
        "metadata.namespace: Forbidden: not allowed on this type"
    ]


def test_object_meta_name_rules_per_resource() -> None:
    assert meta_errors({"name": "1svc", "namespace": "d"}, resource="services")[0].startswith(
        'metadata.name: Invalid value: "1svc": a DNS-1035 label must consist of lower case'
    )
    assert meta_errors({"name": "a.b"}, namespaced=False, resource="namespaces") == [
        'metadata.name: Invalid value: "a.b": must not contain dots'
    ]
    assert meta_errors({"name": "system:controller:x"}, namespaced=False, resource="clusterroles") == []
    assert meta_errors({"name": "a/b"}, namespaced=False, resource="clusterroles") == [
        "metadata.name: Invalid value: \"a/b\": may not contain '/'"
    ]


def test_object_meta_labels_and_annotations() -> None:
    errs = meta_errors(
        {
            "name": "w",
            "namespace": "d",
            "labels": {"ok": "-bad", "bad key!": "v"},
            "annotations": {"x/y/z": "1"},
        }
    )
    assert errs[0].startswith('metadata.labels: Invalid value: "-bad": a valid label must be an empty string')
    assert errs[1].startswith('metadata.labels: Invalid value: "bad key!": name part must consist of')
    assert errs[2].startswith('metadata.annotations: Invalid value: "x/y/z": a qualified name must consist')
    big = meta_errors({"name": "w", "namespace": "d", "annotations": {"a": "x" * 300_000}})
    assert big == ["metadata.annotations: Too long: must have at most 262144 bytes"]


# -- CRDs -------------------------------------------------------------------------------------------


def crd(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
            "versions": [
                {"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": OPENAPI}}
            ],
        },
    }
    base["spec"].update(changes)
    return base


def crd_errors(obj: dict[str, Any]) -> list[str]:
    return [str(e) for e in validate_crd(obj)]


def test_a_good_crd() -> None:
    assert crd_errors(crd()) == []


def test_crd_name_must_be_plural_dot_group() -> None:
    obj = crd()
    obj["metadata"]["name"] = "widget.example.com"
    assert crd_errors(obj) == [
        'metadata.name: Invalid value: "widget.example.com": must be spec.names.plural+"."+spec.group'
    ]


def test_crd_versions() -> None:
    two = crd(
        versions=[{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": OPENAPI}}] * 2
    )
    errs = crd_errors(two)
    assert any(
        "spec.versions: Invalid value: " in e and e.endswith(": must contain unique version names")
        for e in errs
    )
    assert any(e.endswith("must have exactly one version marked as storage version") for e in errs)
    assert crd_errors(crd(versions=[]))[-1].endswith(
        "must have exactly one version marked as storage version"
    )
    no_schema = crd(versions=[{"name": "v1", "served": True, "storage": True}])
    assert crd_errors(no_schema) == [
        "spec.versions[0].schema.openAPIV3Schema: Required value: schemas are required"
    ]


def test_crd_scope_group_and_names() -> None:
    assert crd_errors(crd(scope="Global")) == [
        'spec.scope: Unsupported value: "Global": supported values: "Cluster", "Namespaced"'
    ]
    obj = crd(group="example")
    obj["metadata"]["name"] = "widgets.example"
    assert crd_errors(obj) == [
        'spec.group: Invalid value: "example": should be a domain with at least one dot'
    ]
    obj = crd(names={"plural": "widgets", "kind": "Widget", "listKind": "Widget"})
    assert crd_errors(obj) == [
        'spec.names.listKind: Invalid value: "Widget": kind and listKind may not be the same'
    ]


def test_crd_structural_schema_and_columns() -> None:
    schema = {"type": "object", "properties": {"spec": {"properties": {"x": {"type": "string"}}}}}
    version = {
        "name": "v1",
        "served": True,
        "storage": True,
        "schema": {"openAPIV3Schema": schema},
        "subresources": {
            "scale": {"specReplicasPath": ".status.replicas", "statusReplicasPath": "status.replicas"}
        },
        "additionalPrinterColumns": [{"name": "X", "type": "text", "jsonPath": ".spec.x"}],
    }
    errs = validate_crd(crd(versions=[version]))
    assert [str(e) for e in errs] == [
        "spec.versions[0].schema.openAPIV3Schema.properties[spec].type: Required value: must not be empty for specified object fields",
        'spec.versions[0].subresources.scale.specReplicasPath: Invalid value: ".status.replicas": should be a json path under .spec',
        'spec.versions[0].subresources.scale.statusReplicasPath: Invalid value: "status.replicas": must be a simple json path starting with .',
        'spec.versions[0].additionalPrinterColumns[0].type: Unsupported value: "text": supported values: "integer", "number", "string", "boolean", "date"',
    ]
