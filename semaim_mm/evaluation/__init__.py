"""Evaluation protocols: k-NN metric / hook and feature extraction."""
from .knn import (KNNAccuracy, KNNBankWarning, KNNEvalHook, backbone_features,
                  check_ks, extract_batch_features, extract_features,
                  gather_features, knn_classify, run_knn, shard_indices)

__all__ = [
    'KNNAccuracy', 'KNNBankWarning', 'KNNEvalHook', 'backbone_features',
    'check_ks', 'extract_batch_features', 'extract_features',
    'gather_features', 'knn_classify', 'run_knn', 'shard_indices'
]
