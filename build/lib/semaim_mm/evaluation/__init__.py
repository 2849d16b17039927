"""Evaluation protocols: k-NN metric / hook and feature extraction."""
from .knn import (KNNAccuracy, KNNEvalHook, backbone_features,
                  extract_features, gather_features, knn_classify, run_knn,
                  shard_indices)

__all__ = [
    'KNNAccuracy', 'KNNEvalHook', 'backbone_features', 'extract_features',
    'gather_features', 'knn_classify', 'run_knn', 'shard_indices'
]
