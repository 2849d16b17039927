from .fashion_mnist import FashionMNISTDataset, find_fashion_mnist, read_idx

__all__ = ['FashionMNISTDataset', 'find_fashion_mnist', 'read_idx']
