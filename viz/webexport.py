"""Offline HTML of a render window: vtk.js scene state embedded in trame-vtk's viewer.

PyVista's ``export_html`` now goes through ``trame-pyvista``, which starts a trame web
server just to serialise the scene. The serialisers underneath are plain functions,
so we call them directly: no server, no port, no event loop.

Two things the serialisers leave out are added here. A lookup table's scalar range
goes to vtk.js as ``mappingRange`` (trame-vtk writes it as ``valueRange``, which vtk.js
reads as the HSV brightness range, so an unmapped colour bar fell back to 0-255). And
text overlays, which vtk.js scenes do not carry, are an HTML layer over the canvas:
the clock, the colour bar's title and the note stating its range.
"""

from __future__ import annotations

import base64
import html
import io
import json
import zipfile
from pathlib import Path

OVERLAY_ID = "twin-overlay"


def scene_state(plotter) -> bytes:
    """The render window as vtk.js ``OfflineLocalView`` data (a zip with ``index.json``)."""
    from trame_vtk.modules.vtk.serializers import (
        SynchronizationContext,
        extract_array_hash,
        initialize_serializers,
        reference_id,
        serialize,
    )

    initialize_serializers()
    context = SynchronizationContext()
    window = plotter.render_window
    camera = plotter.renderer.GetActiveCamera()
    scene = serialize(None, window, reference_id(window), context, 1)
    scene["extra"] = {
        "vtkRefId": reference_id(window),
        "centerOfRotation": camera.GetFocalPoint(),
        "camera": reference_id(camera),
    }
    _map_lookup_ranges(scene)
    hashes = {
        e["hash"]: dict(**e, content=context.get_cached_data_array(e["hash"], False))
        for e in extract_array_hash(scene)
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("index.json", json.dumps({"hashes": hashes, "scene": scene}))
    return buffer.getvalue()


def _map_lookup_ranges(node: dict) -> None:
    """Give every lookup table its scalar range as vtk.js's ``mappingRange``."""
    props = node.get("properties", {})
    if node.get("type") == "vtkLookupTable" and "valueRange" in props:
        props["mappingRange"] = list(props["valueRange"])
    for child in node.get("dependencies", []):
        _map_lookup_ranges(child)


def read_scene(path: str | Path) -> dict:
    """The vtk.js scene (``index.json``) embedded in an HTML page written here."""
    text = Path(path).read_text(encoding="utf-8")
    start = text.index('const base64Str = "') + len('const base64Str = "')
    data = base64.b64decode(text[start : text.index('"', start)])
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return json.loads(z.read("index.json"))["scene"]


def overlay_html(lines: list[str]) -> str:
    """An HTML block of text lines over the canvas, top left, as the PNG's clock."""
    body = "<br>".join(html.escape(line) for line in lines if line)
    style = (
        "position:fixed;left:8px;top:6px;z-index:10;font:13px sans-serif;color:#000;"
        "background:rgba(255,255,255,0.7);padding:3px 6px;pointer-events:none"
    )
    return f'<div id="{OVERLAY_ID}" style="{style}">{body}</div>'


def write_html(plotter, path: str | Path, overlay: list[str] = ()) -> Path:
    """Write ``plotter``'s scene as one self-contained HTML file (viewer and data inline),
    with ``overlay`` lines (clock, legend note) as text over the canvas."""
    from trame_vtk.tools.vtksz2html import HTML_VIEWER_PATH, data_to_base64

    path = Path(path)
    data = data_to_base64(scene_state(plotter))
    # The viewer empties its container when it loads, so the overlay goes in after.
    text = json.dumps(overlay_html(list(overlay)), ensure_ascii=False)
    loader = (
        "<script>\nfunction loadDataSet() {\n"
        "  const container = document.querySelector('.content') || document.body;\n"
        f'  const base64Str = "{data}";\n'
        "  OfflineLocalView.load(container, { base64Str });\n"
        f"  document.body.insertAdjacentHTML('beforeend', {text});\n"
        "}\n</script>\n"
    )
    with HTML_VIEWER_PATH.open(encoding="utf-8") as viewer, path.open("w", encoding="utf-8") as out:
        for line in viewer:
            if "</body>" in line:
                out.write(loader)
            out.write(line)
    return path
