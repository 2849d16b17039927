from .fashion_mnist import FashionMNISTDataset, find_fashion_mnist, read_idx
from .safe_loading import BadImageError, SafeLoadImageFromFile  # noqa: F401

__all__ = ['FashionMNISTDataset', 'find_fashion_mnist', 'read_idx']
