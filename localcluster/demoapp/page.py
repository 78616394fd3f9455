"""The demo app's HTML page: its colour as a big block, version, pod and image, no external assets.

Like the rollouts-demo page, a small script keeps asking ``color`` (relative, so it works
behind a Service or a proxy prefix) and draws one square per answer: through a Service that
load-balances over two versions, the squares show the traffic split as a rollout proceeds.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["render_page"]

_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{version} ({color})</title>
<style>
body {{ margin: 0; font-family: system-ui, sans-serif; background: #f4f4f4; color: #222; }}
.block {{ background: {color}; height: 40vh; display: flex; align-items: center;
  justify-content: center; }}
.block h1 {{ background: rgba(255,255,255,.85); padding: .3em .8em; border-radius: .3em; }}
main {{ padding: 1em 2em; }}
.error {{ color: #a00; font-weight: bold; }}
#squares span {{ display: inline-block; width: 14px; height: 14px; margin: 1px; }}
#squares span.failed {{ outline: 3px solid black; }}
</style>
</head>
<body>
<div class="block"><h1>{version}</h1></div>
<main>
<p>colour <b>{color}</b> &middot; version <b>{version}</b> &middot; pod <b>{pod}</b>
&middot; image <code>{image}</code> &middot; HTTP {status}</p>
{error}{upstream}
<p>Answers of <code>/color</code> (a black outline is an error):</p>
<div id="squares"></div>
</main>
<script>
const squares = document.getElementById("squares");
async function poll() {{
  const square = document.createElement("span");
  try {{
    const answer = await fetch("color", {{cache: "no-store"}});
    const body = await answer.json();
    square.style.background = body.color;
    square.title = body.version + " " + body.pod + " HTTP " + answer.status;
    if (!answer.ok) square.className = "failed";
  }} catch (err) {{
    square.style.background = "white";
    square.className = "failed";
    square.title = String(err);
  }}
  squares.prepend(square);
  while (squares.children.length > 200) squares.lastChild.remove();
}}
setInterval(poll, 500);
</script>
</body>
</html>
"""


def render_page(status: int, payload: Mapping[str, Any]) -> str:
    """The page for one answer of the app (`payload` is what ``/color`` would answer)."""
    esc = html.escape
    error = payload.get("error")
    upstream: Sequence[Any] = payload.get("upstream") or ()
    items = "".join(f"<li>{_describe_upstream(entry)}</li>" for entry in upstream)
    return _TEMPLATE.format(
        color=esc(str(payload.get("color", ""))),
        version=esc(str(payload.get("version", ""))),
        pod=esc(str(payload.get("pod", ""))),
        image=esc(str(payload.get("image", ""))),
        status=status,
        error=f'<p class="error">{esc(str(error))}</p>' if error else "",
        upstream=f"<p>Upstream:</p><ul>{items}</ul>" if items else "",
    )


def _describe_upstream(entry: Any) -> str:
    """One upstream answer as HTML: its colour swatch and version, or its error."""
    esc = html.escape
    if not isinstance(entry, Mapping):
        return esc(repr(entry))
    if "error" in entry:
        return f'<span class="error">{esc(str(entry["error"]))}</span>'
    color = esc(str(entry.get("color", "")))
    swatch = color if color.replace("#", "").isalnum() else "transparent"
    return (
        f'<span style="background:{swatch}">&nbsp;&nbsp;&nbsp;&nbsp;</span> '
        f"{color} &middot; version {esc(str(entry.get('version', '')))} "
        f"&middot; pod {esc(str(entry.get('pod', '')))}"
    )
