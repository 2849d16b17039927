"""semaim-mm: SemAIM (semantic-aware autoregressive image modeling) on OpenMMLab."""
import shutil
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).parent


def read_requirements(name: str) -> list:
    lines = (HERE / 'requirements' / name).read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.startswith('#')]


class BuildWithModelIndex(build_py):
    """Copy model-index.yml and configs/ into the built package as
    ``semaim_mm/.mim`` (mmpretrain's layout), so an installed package finds
    its model index and the configs the index names."""

    def run(self) -> None:
        super().run()
        mim = Path(self.build_lib) / 'semaim_mm' / '.mim'
        shutil.rmtree(mim, ignore_errors=True)
        mim.mkdir(parents=True)
        shutil.copy(HERE / 'model-index.yml', mim / 'model-index.yml')
        shutil.copytree(HERE / 'configs', mim / 'configs')


setup(
    name='semaim_mm',
    version='0.1.0',
    description='SemAIM (AAAI 2024) self-supervised pre-training and '
    'benchmarks on mmpretrain, mmdet and mmsegmentation',
    long_description=(HERE / 'README.md').read_text(),
    long_description_content_type='text/markdown',
    python_requires='>=3.9',
    packages=find_packages(include=['semaim_mm', 'semaim_mm.*']),
    install_requires=read_requirements('runtime.txt'),
    extras_require={
        'det_seg': read_requirements('mminstall.txt'),
        'tests': read_requirements('tests.txt'),
    },
    cmdclass={'build_py': BuildWithModelIndex},
    license='Apache-2.0',
)
