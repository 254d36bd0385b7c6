"""``python -m contrastlab.families``: list the registered families and their config keys."""

from contrastlab.registry import describe

print(describe())
