from .fashion_mnist import FashionMNISTDataset, find_fashion_mnist, read_idx
from .safe_loading import BadImageError, SafeLoadImageFromFile  # noqa: F401
from .subset import balanced_indices, class_balanced_subset

__all__ = ['FashionMNISTDataset', 'find_fashion_mnist', 'read_idx',
           'balanced_indices', 'class_balanced_subset']
