"""``antiAffinity``: keep a new ReplicaSet's pods off the nodes of the stable one (pure).

Argo Rollouts' rule (utils/replicaset, rollout/sync.go), for ``canary.antiAffinity`` and
``blueGreen.antiAffinity`` alike:

- while ``status.stableRS`` names another ReplicaSet, a ReplicaSet's pod template gets, added to
  the Rollout template's own affinity, one pod anti-affinity term: pods labelled
  ``rollouts-pod-template-hash In [<stableRS>]`` in the Rollout's namespace, topology key
  ``kubernetes.io/hostname``; under ``requiredDuringSchedulingIgnoredDuringExecution``, or with
  the given ``weight`` under ``preferredDuringSchedulingIgnoredDuringExecution``;
- a new ReplicaSet is created with it (none on the first deploy: there is no stable one);
- the new ReplicaSet's affinity is generated again whenever the controller updates it (a revision
  bump, ``minReadySeconds``) or its injected term names a stable hash that is no longer the stable
  one (an undo to an old ReplicaSet): pointed at the current stable ReplicaSet, or left out once it
  is the stable one itself. Completing a rollout alone does not remove the term from the now stable
  ReplicaSet (Argo's ``IfInjectedAntiAffinityRuleNeedsUpdate`` is false for the stable one); it
  names the previous hash, whose pods are gone, so it no longer constrains anything.

The term is never part of the pod-template hash, which is computed from the Rollout's template.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Final

from controller.core.hashing import POD_TEMPLATE_HASH_LABEL

#: the topology of the injected term: one node
TOPOLOGY_KEY: Final = "kubernetes.io/hostname"
REQUIRED: Final = "requiredDuringSchedulingIgnoredDuringExecution"
PREFERRED: Final = "preferredDuringSchedulingIgnoredDuringExecution"


def strategy_anti_affinity(rollout: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """Argo's ``GetRolloutAffinity``: the strategy's ``antiAffinity`` when one kind is set, else None."""
    strategy = (rollout.get("spec") or {}).get("strategy") or {}
    found: Mapping[str, Any] | None = None
    for name in ("blueGreen", "canary"):
        anti = (
            (strategy.get(name) or {}).get("antiAffinity")
            if isinstance(strategy.get(name), Mapping)
            else None
        )
        if isinstance(anti, Mapping):
            found = anti
    if found is None or (found.get(PREFERRED) is None and found.get(REQUIRED) is None):
        return None
    return found


def injected_term(stable_hash: str, namespace: str) -> dict[str, Any]:
    """The pod anti-affinity term against the stable ReplicaSet's pods."""
    return {
        "labelSelector": {
            "matchExpressions": [{"key": POD_TEMPLATE_HASH_LABEL, "operator": "In", "values": [stable_hash]}]
        },
        "namespaces": [namespace],
        "topologyKey": TOPOLOGY_KEY,
    }


def replica_set_affinity(rollout: Mapping[str, Any], pod_hash: str) -> dict[str, Any] | None:
    """Argo's ``GenerateReplicaSetAffinity``: the affinity for the ReplicaSet of ``pod_hash`` -- the
    Rollout template's, plus the injected term while the stable ReplicaSet is another one."""
    spec = rollout.get("spec") or {}
    own = ((spec.get("template") or {}).get("spec") or {}).get("affinity")
    affinity: dict[str, Any] | None = copy.deepcopy(dict(own)) if isinstance(own, Mapping) else None
    anti = strategy_anti_affinity(rollout)
    stable = str((rollout.get("status") or {}).get("stableRS") or "")
    if anti is None or not stable or stable == pod_hash:
        return affinity
    namespace = str((rollout.get("metadata") or {}).get("namespace") or "")
    term = injected_term(stable, namespace)
    affinity = affinity or {}
    pod_anti = dict(affinity.get("podAntiAffinity") or {})
    preferred = anti.get(PREFERRED)
    if isinstance(preferred, Mapping):
        weighted = {"weight": int(preferred.get("weight") or 0), "podAffinityTerm": term}
        pod_anti[PREFERRED] = [*(pod_anti.get(PREFERRED) or ()), weighted]
    else:
        pod_anti[REQUIRED] = [*(pod_anti.get(REQUIRED) or ()), term]
    affinity["podAntiAffinity"] = pod_anti
    return affinity


def _term_of(entry: Any, preferred: bool) -> Mapping[str, Any]:
    if not isinstance(entry, Mapping):
        return {}
    term = entry.get("podAffinityTerm") if preferred else entry
    return term if isinstance(term, Mapping) else {}


def find_injected(
    affinity: Mapping[str, Any] | None, rollout: Mapping[str, Any]
) -> tuple[int, Mapping[str, Any]]:
    """Argo's ``HasInjectedAntiAffinityRule``: the index and term of the first anti-affinity term
    (of the kind the strategy uses) selecting on the pod-template hash; ``(-1, {})`` when none."""
    anti = strategy_anti_affinity(rollout)
    pod_anti = (affinity or {}).get("podAntiAffinity")
    if anti is None or not isinstance(pod_anti, Mapping):
        return -1, {}
    preferred = anti.get(PREFERRED) is not None
    for index, entry in enumerate(pod_anti.get(PREFERRED if preferred else REQUIRED) or ()):
        term = _term_of(entry, preferred)
        expressions = (term.get("labelSelector") or {}).get("matchExpressions") or ()
        if any(e.get("key") == POD_TEMPLATE_HASH_LABEL for e in expressions if isinstance(e, Mapping)):
            return index, term
    return -1, {}


def remove_injected(affinity: Mapping[str, Any] | None, rollout: Mapping[str, Any]) -> dict[str, Any] | None:
    """Argo's ``RemoveInjectedAntiAffinityRule``: ``affinity`` without the injected term (None when
    nothing else is left)."""
    result = copy.deepcopy(dict(affinity)) if isinstance(affinity, Mapping) else None
    index, _ = find_injected(affinity, rollout)
    if result is None or index < 0:
        return result
    anti = strategy_anti_affinity(rollout) or {}
    key = PREFERRED if anti.get(PREFERRED) is not None else REQUIRED
    pod_anti = dict(result.get("podAntiAffinity") or {})
    terms = list(pod_anti.get(key) or ())
    del terms[index]
    if terms:
        pod_anti[key] = terms
    else:
        pod_anti.pop(key, None)
    if pod_anti.get(REQUIRED) or pod_anti.get(PREFERRED):
        result["podAntiAffinity"] = pod_anti
    else:
        result.pop("podAntiAffinity", None)
    if not any(result.get(k) for k in ("podAntiAffinity", "podAffinity", "nodeAffinity")):
        return None
    return result


def needs_update(affinity: Mapping[str, Any] | None, rollout: Mapping[str, Any], pod_hash: str) -> bool:
    """Argo's ``IfInjectedAntiAffinityRuleNeedsUpdate``: the ReplicaSet of ``pod_hash`` is not the
    stable one and its injected term names a hash that is no longer stable."""
    index, term = find_injected(affinity, rollout)
    stable = str((rollout.get("status") or {}).get("stableRS") or "")
    if index < 0 or stable == pod_hash:
        return False
    for expression in (term.get("labelSelector") or {}).get("matchExpressions") or ():
        if isinstance(expression, Mapping) and expression.get("key") == POD_TEMPLATE_HASH_LABEL:
            values = list(expression.get("values") or ())
            return not values or values[0] != stable
    return False


__all__ = [
    "PREFERRED",
    "REQUIRED",
    "TOPOLOGY_KEY",
    "find_injected",
    "injected_term",
    "needs_update",
    "remove_injected",
    "replica_set_affinity",
    "strategy_anti_affinity",
]
