"""The image layer: image sources (``digits``, ``shapes``, the real data sets read from
disk) and batched augmentations, shared by every family that trains on images.

Imports run one way: data -> augmentation -> encoder -> loss -> engine -> family; nothing
here imports an encoder, a loss, the engine or a family.
"""
