"""contrastlab: reproducible experiments for the theory of contrastive learning.

The package holds all the science (data generators, models, losses, training
loops, metrics, claims and figures); the Snakemake workflow only wires it up.
"""

__version__ = "0.2.0"
