"""Offline HTML of a render window: vtk.js scene state embedded in trame-vtk's viewer.

PyVista's ``export_html`` now goes through ``trame-pyvista``, which starts a trame web
server just to serialise the scene. The serialisers underneath are plain functions,
so we call them directly: no server, no port, no event loop.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path


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
    hashes = {
        e["hash"]: dict(**e, content=context.get_cached_data_array(e["hash"], False))
        for e in extract_array_hash(scene)
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("index.json", json.dumps({"hashes": hashes, "scene": scene}))
    return buffer.getvalue()


def write_html(plotter, path: str | Path) -> Path:
    """Write ``plotter``'s scene as one self-contained HTML file (viewer and data inline)."""
    from trame_vtk.tools.vtksz2html import write_html as embed

    path = Path(path)
    data = scene_state(plotter)
    with path.open("w", encoding="utf-8") as out:
        embed(data, out)
    return path
