"""Hand-written kernels, each paired with the ``xp`` code it must match (docs/architecture.md,
'GPU backend'): :mod:`gpu.kernels.air`, the fused air sub-step; :mod:`gpu.kernels.ctm`, the
fused CTM sub-steps; :mod:`gpu.kernels.build`, how both are built."""
