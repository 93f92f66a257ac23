"""3D scenes of the twin with PyVista (the only package that imports pyvista, lazily)."""
