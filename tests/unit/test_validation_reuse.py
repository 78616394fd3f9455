"""Checks the write path remembers (a ``spec`` or ``managedFields`` that passed before) give the
same answers as checking again: errors are never remembered, and a value that passed against
one schema is checked afresh against another (a CRD updated)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from localcluster.apiserver import validation
from localcluster.apiserver.schema import crd_schema


def schema(replicas_max: int) -> Any:
    return crd_schema(
        {
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "required": ["replicas"],
                    "properties": {
                        "replicas": {"type": "integer", "maximum": replicas_max},
                        "mode": {"type": "string", "enum": ["a", "b"]},
                    },
                },
                "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            },
        }
    )


def widget(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w", "namespace": "ns"},
        "spec": spec,
        "status": {"anything": 1},
    }


def fresh(check: Any, *args: Any) -> Any:
    validation._CLEAN.clear()
    return check(*args)


SPECS = st.fixed_dictionaries(
    {},
    optional={
        "replicas": st.integers(-1, 12) | st.sampled_from(["3", None]),
        "mode": st.sampled_from(["a", "b", "c"]),
        "extra": st.integers(0, 1),
    },
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(SPECS, st.sampled_from([5, 10])), min_size=1, max_size=6))
def test_remembered_checks_answer_as_checking_afresh(writes: list[tuple[dict[str, Any], int]]) -> None:
    validation._CLEAN.clear()
    schemas = {5: schema(5), 10: schema(10)}
    for spec, bound in writes:
        obj, s = widget(spec), schemas[bound]
        # Twice each, so that the second one meets what the first remembered.
        for _ in range(2):
            assert validation.validate(obj, s) == fresh(validation.validate, obj, s)
            assert validation.unknown_fields(obj, s) == fresh(validation.unknown_fields, obj, s)
            assert validation.prune(obj, s) == fresh(validation.prune, obj, s)


def test_a_spec_valid_under_one_schema_is_checked_again_under_another() -> None:
    validation._CLEAN.clear()
    obj = widget({"replicas": 7})
    assert validation.validate(obj, schema(10)) == []
    errors = validation.validate(obj, schema(5))
    assert [str(e) for e in errors] == [
        "spec.replicas: Invalid value: 7: spec.replicas in body should be less than or equal to 5"
    ]


def test_an_invalid_spec_stays_invalid() -> None:
    validation._CLEAN.clear()
    s = schema(5)
    obj = widget({"replicas": 9, "mode": "c"})
    first = validation.validate(obj, s)
    assert len(first) == 2
    assert validation.validate(obj, s) == first
    assert validation.unknown_fields(widget({"replicas": 1, "bogus": True}), s) == [".spec.bogus"]
    assert validation.unknown_fields(widget({"replicas": 1, "bogus": True}), s) == [".spec.bogus"]
