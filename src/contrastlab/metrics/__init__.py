"""Metrics shared by the families.

Modules:
    - :mod:`.probes` -- linear probes (closed-form ridge read-outs, a logistic-regression
      class probe) and ROC AUC.
    - :mod:`.correlation` -- best |Pearson correlation| of a variable with units.
    - :mod:`.embedding` -- alignment, uniformity (-L_unif), tolerance and local
      separation of embeddings, and their 2-D PCA picture.
    - :mod:`.subspace` -- principal angles between subspaces.
"""
