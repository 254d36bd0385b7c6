"""The built-in experiment families: one sub-package each, exposing ``FAMILY``.

``python -m contrastlab.families`` lists every registered family (built-in and
entry-point ones) with its figures and config keys. See :mod:`contrastlab.registry`.
"""
