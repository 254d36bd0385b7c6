"""Metrics shared by the families.

Modules:
    - :mod:`.probes` -- linear probes (closed-form ridge read-outs) and ROC AUC.
    - :mod:`.correlation` -- best |Pearson correlation| of a variable with units.
    - :mod:`.embedding` -- alignment, uniformity (-L_unif), tolerance and local
      separation of embeddings.
    - :mod:`.subspace` -- principal angles between subspaces.
"""
