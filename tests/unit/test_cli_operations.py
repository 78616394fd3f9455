"""The patches the CLI's operations send are Argo's, byte for byte, and the helpers around them."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from controller.cli import operations as ops
from controller.cli.errors import CliError
from tests.unit import cli_fixtures as f


def test_argos_patch_texts() -> None:
    # the literal bytes of pkg/kubectl-argo-rollouts/cmd/{pause,promote,abort,retry}
    assert ops.PAUSE_PATCH == '{"spec":{"paused":true}}'
    assert ops.UNPAUSE_PATCH == '{"spec":{"paused":false}}'
    assert ops.CLEAR_PAUSE_CONDITIONS_PATCH == '{"status":{"pauseConditions":null}}'
    assert ops.PROMOTE_FULL_PATCH == '{"status":{"promoteFull":true}}'
    assert ops.ABORT_PATCH == '{"status":{"abort":true}}'
    assert ops.RETRY_PATCH == '{"status":{"abort":false}}'
    for text in (ops.PAUSE_PATCH, ops.ABORT_PATCH, ops.RETRY_PATCH, ops.CLEAR_PAUSE_CONDITIONS_PATCH):
        assert json.dumps(json.loads(text), separators=(",", ":")) == text


def test_promote_at_a_pause_step_clears_the_pause_conditions() -> None:
    ro, _, _ = f.paused()
    assert ops.promote_patches(ro) == ops.Patches(status='{"status":{"pauseConditions":null}}')


def test_promote_of_a_manually_paused_rollout_also_unpauses() -> None:
    ro, _, _ = f.paused()
    ro["spec"]["paused"] = True
    patches = ops.promote_patches(ro)
    assert patches.spec == '{"spec":{"paused":false}}'
    assert patches.status == '{"status":{"pauseConditions":null}}'


def test_promote_mid_step_without_pause_moves_to_the_next_step() -> None:
    ro, _, _ = f.progressing()  # step 2 of 4, no pause condition (e.g. an analysis step)
    assert ops.promote_patches(ro).status == '{"status":{"pauseConditions":null,"currentStepIndex":3}}'
    ro["status"]["currentStepIndex"] = 4  # past the last step: the index stays
    assert ops.promote_patches(ro).status == '{"status":{"pauseConditions":null,"currentStepIndex":4}}'


def test_promote_full() -> None:
    ro, _, _ = f.paused()
    assert ops.promote_patches(ro, full=True) == ops.Patches(status='{"status":{"promoteFull":true}}')
    ro["spec"]["paused"] = True
    assert ops.promote_patches(ro, full=True).spec == '{"spec":{"paused":false}}'
    healthy, _, _ = f.healthy()  # already fully promoted: nothing to send
    assert ops.promote_patches(healthy, full=True) == ops.Patches()


def test_promote_of_a_blue_green_rollout_with_nothing_paused_sends_nothing() -> None:
    ro = f.rollout({"currentPodHash": "a", "stableRS": "b"})
    ro["spec"]["strategy"] = {"blueGreen": {"activeService": "web"}}
    assert ops.promote_patches(ro) == ops.Patches()


def test_restart_patch_is_utc_rfc3339() -> None:
    moment = datetime(2024, 5, 1, 14, 30, 5, 123456, tzinfo=timezone(timedelta(hours=2)))
    assert ops.restart_patch(moment) == '{"spec":{"restartAt":"2024-05-01T12:30:05Z"}}'
    assert ops.restart_patch(datetime(2024, 5, 1, 12, 0)) == '{"spec":{"restartAt":"2024-05-01T12:00:00Z"}}'


@pytest.mark.parametrize("argument", ["frontend", "=image", "frontend=", "a=b=c", ""])
def test_bad_container_image_arguments_say_what_is_expected(argument: str) -> None:
    with pytest.raises(CliError, match=r"expected CONTAINER=IMAGE \(or \*=IMAGE"):
        ops.parse_image_argument(argument)


def test_set_image_changes_every_kind_of_container() -> None:
    ro, _, _ = f.healthy()
    pod = ro["spec"]["template"]["spec"]
    pod["initContainers"] = [{"name": "init", "image": "busybox:1"}]
    pod["ephemeralContainers"] = [{"name": "debug", "image": "busybox:1"}]
    one = ops.with_image(ro, "init", "busybox:2")
    assert one["spec"]["template"]["spec"]["initContainers"][0]["image"] == "busybox:2"
    assert one["spec"]["template"]["spec"]["containers"][0]["image"] == f.GREEN
    assert ro["spec"]["template"]["spec"]["initContainers"][0]["image"] == "busybox:1"  # a copy
    every = ops.with_image(ro, "*", "x:1")
    spec = every["spec"]["template"]["spec"]
    assert {
        c["image"] for key in ("initContainers", "containers", "ephemeralContainers") for c in spec[key]
    } == {"x:1"}
    with pytest.raises(
        CliError, match=r'unable to find container named "web" in rollout "frontend" \(containers: '
    ):
        ops.with_image(ro, "web", "x:1")


def _rs(revision: Any, pod_hash: str) -> dict[str, Any]:
    return f.replica_set(pod_hash, 0, 1, 1, "x", 10) | {
        "metadata": {"name": pod_hash, "annotations": {"rollout.argoproj.io/revision": str(revision)}}
    }


def test_undo_picks_the_previous_revision_or_the_one_asked_for() -> None:
    rss = [_rs(1, "a"), _rs(3, "c"), _rs(2, "b"), _rs("junk", "z")]
    assert ops.replica_set_for_revision("web", rss, 0)["metadata"]["name"] == "b"
    assert ops.replica_set_for_revision("web", rss, 1)["metadata"]["name"] == "a"
    with pytest.raises(CliError, match=r'revision 7 of rollout "web" \(revisions kept: 1, 2, 3\)'):
        ops.replica_set_for_revision("web", rss, 7)
    with pytest.raises(CliError, match="no previous revision"):
        ops.replica_set_for_revision("web", [_rs(1, "a")], 0)


def test_undo_template_loses_the_hash_label_and_compares_semantically() -> None:
    template = {"metadata": {"labels": {"app": "web", "rollouts-pod-template-hash": "abc"}}, "spec": {}}
    assert ops.template_without_hash(template) == {"metadata": {"labels": {"app": "web"}}, "spec": {}}
    wanted = {"spec": {"containers": [{"name": "web", "image": "a"}]}}
    defaulted = {"spec": {"containers": [{"name": "web", "image": "a", "imagePullPolicy": "IfNotPresent"}]}}
    assert ops.derivative(wanted, defaulted)
    assert not ops.derivative({"spec": {"containers": [{"name": "web", "image": "b"}]}}, defaulted)


def test_run_operation_rejects_unknown_operations() -> None:
    with pytest.raises(ValueError, match="unknown operation 'resume'"):
        ops.run_operation("resume", "web")


def test_restart_message_names_the_delay() -> None:
    assert ops._human(timedelta(0)) == "0s"
    assert ops._human(timedelta(seconds=90)) == "90s"
    assert ops._human(timedelta(minutes=10)) == "10m"
    assert ops._human(timedelta(hours=2)) == "2h"
