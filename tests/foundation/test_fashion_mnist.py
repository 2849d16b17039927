"""The embedded Fashion-MNIST dataset parses the real IDX files."""
import gzip

import numpy as np
import pytest

from semaim_mm.datasets import FashionMNISTDataset, find_fashion_mnist, read_idx


def test_real_files_parse():
    train = FashionMNISTDataset(split='train')
    test = FashionMNISTDataset(split='test')
    assert len(train) == 60000 and len(test) == 10000
    item = test[0]
    assert item['img'].shape == (28, 28, 3) and item['img'].dtype == np.uint8
    labels = np.array([test.get_data_info(i)['gt_label'] for i in range(500)])
    assert labels.min() >= 0 and labels.max() <= 9 and len(set(labels)) == 10
    assert test[0]['gt_label'] == 9  # the first test item is an ankle boot
    gray = FashionMNISTDataset(split='test', to_rgb=False)
    assert gray[0]['img'].shape == (28, 28)
    assert len(test.metainfo['classes']) == 10


def write_idx(path, array, gz=True):
    header = bytes([0, 0, 8, array.ndim]) + b''.join(
        int(d).to_bytes(4, 'big') for d in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    (gzip.open if gz else open)(path, 'wb').write(data)


def test_local_folder_and_errors(tmp_path, monkeypatch):
    imgs = np.random.RandomState(0).randint(0, 255, (5, 28, 28))
    labels = np.arange(5)
    for split, (i, l) in {'train': ('train-images-idx3-ubyte',
                                    'train-labels-idx1-ubyte'),
                          't10k': ('t10k-images-idx3-ubyte',
                                   't10k-labels-idx1-ubyte')}.items():
        write_idx(tmp_path / (i + '.gz'), imgs)
        write_idx(tmp_path / l, labels, gz=False)
    ds = FashionMNISTDataset(data_root=str(tmp_path), split='test')
    assert len(ds) == 5 and ds[3]['gt_label'] == 3
    assert np.array_equal(read_idx(str(tmp_path / 't10k-labels-idx1-ubyte')),
                          labels)
    # Truncated file: a clear error.
    raw = gzip.open(tmp_path / 'train-images-idx3-ubyte.gz').read()
    gzip.open(tmp_path / 'train-images-idx3-ubyte.gz', 'wb').write(raw[:-10])
    with pytest.raises(ValueError, match='truncated'):
        FashionMNISTDataset(data_root=str(tmp_path), split='train')
    # Nothing anywhere: the error names all three options.
    import semaim_mm.datasets.fashion_mnist as fm
    monkeypatch.setattr(fm, '_debian_dir', lambda: None)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError) as err:
        find_fashion_mnist(str(tmp_path / 'missing'))
    msg = str(err.value)
    assert 'apt-get install dataset-fashion-mnist' in msg
    assert 'data/fashion_mnist' in msg and 'download=True' in msg
    with pytest.raises(ValueError, match='split must be'):
        FashionMNISTDataset(split='validation')
