"""``rollouts lint -f FILE``: check Rollouts, and what they refer to in the same file (pure).

Every problem carries the file, the line and the field. The checks:

- the YAML parses, and each document is an object with ``apiVersion`` and ``kind``;
- fields the CRD schema does not know (a misspelt ``setWieght`` would be dropped by the API
  server without a word) — for Rollouts, AnalysisTemplates and ClusterAnalysisTemplates;
- everything :func:`controller.api.validate_rollout` checks (Argo's validation, with Argo's
  messages), and what the AnalysisTemplate views reject;
- references, when the file holds objects of that kind: the Services a Rollout names
  (canary/stable, ping/pong, active/preview) exist in the file, and their selectors match the
  pod template's labels (else they route to no pod); the AnalysisTemplates its steps and
  analyses name exist, and get every argument they need without a default; the nginx
  ``stableIngress`` exists and routes to the stable Service.

A reference to a kind the file has none of is not checked: the object may already be in the
cluster.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import yaml

from controller.api import (
    AnalysisTemplate,
    ClusterAnalysisTemplate,
    SpecError,
    crd_manifests,
    validate_rollout,
)

ROLLOUT_GROUP: Final = "argoproj.io"


@dataclass(frozen=True)
class LintProblem:
    """One problem: where (file, line, object, field) and what."""

    file: str
    line: int
    kind: str
    name: str
    field: str
    message: str

    def __str__(self) -> str:
        subject = f'{self.kind} "{self.name}"' if self.kind else "document"
        where = f"{self.field}: " if self.field else ""
        return f"{self.file}:{self.line}: {subject}: {where}{self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "kind": self.kind,
            "name": self.name,
            "field": self.field,
            "message": self.message,
        }


@dataclass(frozen=True)
class Document:
    """One YAML document: its data and where each field starts (``field path -> line``)."""

    data: Any
    start_line: int
    lines: Mapping[str, int]

    @property
    def kind(self) -> str:
        return str(self.data.get("kind") or "") if isinstance(self.data, dict) else ""

    @property
    def name(self) -> str:
        meta = self.data.get("metadata") if isinstance(self.data, dict) else None
        return str((meta or {}).get("name") or "") if isinstance(meta, dict) else ""

    @property
    def namespace(self) -> str:
        meta = self.data.get("metadata") if isinstance(self.data, dict) else None
        return str((meta or {}).get("namespace") or "") if isinstance(meta, dict) else ""

    def line_of(self, path: str) -> int:
        """The line of ``path``, or of its nearest ancestor the document has."""
        while path:
            if path in self.lines:
                return self.lines[path]
            cut = max(path.rfind("."), path.rfind("["))
            path = path[:cut] if cut > 0 else ""
        return self.start_line


def _index(node: yaml.Node, path: str, out: dict[str, int]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            name = str(key.value)
            child = f"{path}.{name}" if path else name
            out.setdefault(child, key.start_mark.line + 1)
            _index(value, child, out)
    elif isinstance(node, yaml.SequenceNode):
        for n, item in enumerate(node.value):
            child = f"{path}[{n}]"
            out.setdefault(child, item.start_mark.line + 1)
            _index(item, child, out)


def parse_documents(text: str) -> list[Document]:
    """Every document of ``text`` with its field lines; raises ``yaml.YAMLError``."""
    loader = yaml.SafeLoader(text)
    docs: list[Document] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:  # pragma: no cover - check_node said there is one
                break
            lines: dict[str, int] = {}
            _index(node, "", lines)
            docs.append(Document(loader.construct_document(node), node.start_mark.line + 1, lines))
    finally:
        loader.dispose()
    return docs


# -- CRD schemas: unknown fields ------------------------------------------------------------------


def _schemas() -> dict[str, Mapping[str, Any]]:
    schemas: dict[str, Mapping[str, Any]] = {}
    for crd in crd_manifests():
        kind = crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            if version.get("storage"):
                schemas[kind] = version["schema"]["openAPIV3Schema"]
    return schemas


def _unknown_fields(value: Any, schema: Mapping[str, Any], path: str) -> Iterator[str]:
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return
    if isinstance(value, dict):
        properties = schema.get("properties")
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            if isinstance(properties, Mapping) and key in properties:
                yield from _unknown_fields(item, properties[key], child)
            elif isinstance(extra, Mapping):
                yield from _unknown_fields(item, extra, child)
            elif isinstance(properties, Mapping) and extra is None:
                yield child
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for n, item in enumerate(value):
            yield from _unknown_fields(item, schema["items"], f"{path}[{n}]")


# -- the checks -----------------------------------------------------------------------------------


class _Linter:
    def __init__(self, filename: str, docs: Sequence[Document]) -> None:
        self.file = filename
        self.docs = docs
        self.problems: list[LintProblem] = []
        self.schemas = _schemas()

    def report(self, doc: Document, path: str, message: str) -> None:
        self.problems.append(LintProblem(self.file, doc.line_of(path), doc.kind, doc.name, path, message))

    def of_kind(self, *kinds: str) -> list[Document]:
        return [d for d in self.docs if d.kind in kinds]

    def find(self, kind: str, name: str, namespace: str) -> Document | None:
        for doc in self.of_kind(kind):
            if doc.name == name and (not doc.namespace or not namespace or doc.namespace == namespace):
                return doc
        return None

    def run(self) -> list[LintProblem]:
        for doc in self.docs:
            if doc.data is None:
                continue
            if not isinstance(doc.data, dict):
                self.report(doc, "", "a Kubernetes object must be a YAML mapping")
                continue
            for key in ("apiVersion", "kind"):
                if not doc.data.get(key):
                    self.report(doc, "", f"{key} is missing")
            group = str(doc.data.get("apiVersion") or "").split("/")[0]
            if group == ROLLOUT_GROUP and doc.kind in self.schemas:
                for path in _unknown_fields(doc.data, self.schemas[doc.kind], ""):
                    self.report(doc, path, f'unknown field "{path.rsplit(".", 1)[-1]}"')
            if group != ROLLOUT_GROUP:
                continue
            if doc.kind == "Rollout":
                self.rollout(doc)
            elif doc.kind in ("AnalysisTemplate", "ClusterAnalysisTemplate"):
                self.template(doc)
        return sorted(self.problems, key=lambda p: p.line)

    def template(self, doc: Document) -> None:
        view = ClusterAnalysisTemplate if doc.kind == "ClusterAnalysisTemplate" else AnalysisTemplate
        try:
            view.from_dict(doc.data)
        except SpecError as e:
            for problem in e.problems:
                self.report(doc, problem.field, str(problem).split(": ", 1)[1])

    def rollout(self, doc: Document) -> None:
        for problem in validate_rollout(doc.data):
            message = str(problem)
            prefix = f"{problem.field}: "
            self.report(doc, problem.field, message[len(prefix) :] if message.startswith(prefix) else message)
        spec: dict[str, Any] = doc.data["spec"] if isinstance(doc.data.get("spec"), dict) else {}
        strategy: dict[str, Any] = spec["strategy"] if isinstance(spec.get("strategy"), dict) else {}
        labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        canary = strategy.get("canary") if isinstance(strategy.get("canary"), dict) else None
        blue_green = strategy.get("blueGreen") if isinstance(strategy.get("blueGreen"), dict) else None
        services: list[tuple[str, Any]] = []
        if canary is not None:
            base = "spec.strategy.canary"
            services += [(f"{base}.canaryService", canary.get("canaryService"))]
            services += [(f"{base}.stableService", canary.get("stableService"))]
            ping_pong = canary.get("pingPong") or {}
            services += [(f"{base}.pingPong.pingService", ping_pong.get("pingService"))]
            services += [(f"{base}.pingPong.pongService", ping_pong.get("pongService"))]
            self.nginx(doc, canary)
        if blue_green is not None:
            base = "spec.strategy.blueGreen"
            services += [(f"{base}.activeService", blue_green.get("activeService"))]
            services += [(f"{base}.previewService", blue_green.get("previewService"))]
        for path, name in services:
            if isinstance(name, str) and name:
                self.service(doc, path, name, labels if isinstance(labels, dict) else {})
        for path, ref, args in self.analysis_refs(spec):
            self.analysis(doc, path, ref, args)

    def service(self, doc: Document, path: str, name: str, labels: Mapping[str, Any]) -> None:
        services = self.of_kind("Service")
        if not services:
            return
        found = self.find("Service", name, doc.namespace)
        if found is None:
            listed = ", ".join(sorted(d.name for d in services))
            self.report(doc, path, f'Service "{name}" is not in this file (its Services: {listed})')
            return
        selector = ((found.data.get("spec") or {}).get("selector")) or {}
        missing = {k: v for k, v in selector.items() if labels.get(k) != v}
        if missing:
            wanted = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
            have = ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or "none"
            self.report(
                doc,
                path,
                f'Service "{name}" selects {wanted}, which the pod template labels ({have}) do not '
                "match: it would send traffic to no pod of this Rollout",
            )

    def nginx(self, doc: Document, canary: Mapping[str, Any]) -> None:
        nginx = (canary.get("trafficRouting") or {}).get("nginx")
        if not isinstance(nginx, dict) or not self.of_kind("Ingress"):
            return
        base = "spec.strategy.canary.trafficRouting.nginx"
        names = [(f"{base}.stableIngress", nginx.get("stableIngress"))]
        names += [
            (f"{base}.stableIngresses[{n}]", v) for n, v in enumerate(nginx.get("stableIngresses") or [])
        ]
        stable = canary.get("stableService")
        for path, name in names:
            if not isinstance(name, str) or not name:
                continue
            ingress = self.find("Ingress", name, doc.namespace)
            if ingress is None:
                self.report(doc, path, f'Ingress "{name}" is not in this file')
            elif stable and stable not in set(_ingress_services(ingress.data)):
                self.report(
                    doc, path, f'Ingress "{name}" has no rule that routes to the stableService "{stable}"'
                )

    def analysis_refs(self, spec: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any], list[Any]]]:
        strategy = spec.get("strategy") or {}
        canary = strategy.get("canary") or {}
        blue_green = strategy.get("blueGreen") or {}
        analyses: list[tuple[str, Any]] = [("spec.strategy.canary.analysis", canary.get("analysis"))]
        for n, step in enumerate(canary.get("steps") or []):
            if isinstance(step, dict):
                analyses.append((f"spec.strategy.canary.steps[{n}].analysis", step.get("analysis")))
        for key in ("prePromotionAnalysis", "postPromotionAnalysis"):
            analyses.append((f"spec.strategy.blueGreen.{key}", blue_green.get(key)))
        for path, analysis in analyses:
            if not isinstance(analysis, dict):
                continue
            args: list[Any] = analysis["args"] if isinstance(analysis.get("args"), list) else []
            for n, ref in enumerate(analysis.get("templates") or []):
                if isinstance(ref, dict):
                    yield f"{path}.templates[{n}]", ref, args

    def analysis(self, doc: Document, path: str, ref: Mapping[str, Any], args: list[Any]) -> None:
        kind = "ClusterAnalysisTemplate" if ref.get("clusterScope") else "AnalysisTemplate"
        name = ref.get("templateName")
        if not isinstance(name, str) or not name or not self.of_kind(kind):
            return
        template = self.find(kind, name, "" if kind == "ClusterAnalysisTemplate" else doc.namespace)
        if template is None:
            self.report(doc, f"{path}.templateName", f'{kind} "{name}" is not in this file')
            return
        given = {a.get("name") for a in args if isinstance(a, dict)}
        for arg in (template.data.get("spec") or {}).get("args") or []:
            if not isinstance(arg, dict):
                continue
            if arg.get("value") is None and arg.get("valueFrom") is None and arg.get("name") not in given:
                self.report(
                    doc,
                    path,
                    f'{kind} "{name}" needs the argument "{arg.get("name")}", which this analysis does not pass',
                )


def _ingress_services(ingress: Mapping[str, Any]) -> Iterator[str]:
    spec = ingress.get("spec") or {}
    backends = [spec.get("defaultBackend")]
    for rule in spec.get("rules") or []:
        for path in ((rule or {}).get("http") or {}).get("paths") or []:
            backends.append((path or {}).get("backend"))
    for backend in backends:
        if isinstance(backend, dict):
            service = backend.get("service") or {}
            name = service.get("name") or backend.get("serviceName")
            if name:
                yield str(name)


def lint_text(text: str, filename: str) -> list[LintProblem]:
    """Every problem in ``text`` (the contents of ``filename``), ordered by line."""
    try:
        docs = parse_documents(text)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark is not None else 1
        return [LintProblem(filename, line, "", "", "", f"invalid YAML: {e.problem or e}")]
    except yaml.YAMLError as e:
        return [LintProblem(filename, 1, "", "", "", f"invalid YAML: {e}")]
    return _Linter(filename, docs).run()


def summary(text: str) -> dict[str, int]:
    """How many objects of each kind ``text`` holds (for the success line)."""
    counts: dict[str, int] = {}
    for doc in parse_documents(text):
        if doc.kind:
            counts[doc.kind] = counts.get(doc.kind, 0) + 1
    return counts
