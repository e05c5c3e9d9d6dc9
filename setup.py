import os.path as osp

from setuptools import find_packages, setup


def read_requirements(fname):
    """Read a requirements file, dropping comments and blank lines."""
    path = osp.join(osp.dirname(__file__), fname)
    with open(path) as f:
        lines = [ln.split('#')[0].strip() for ln in f]
    return [ln for ln in lines if ln]


def get_version():
    scope = {}
    with open(osp.join('tbps', 'version.py')) as f:
        exec(f.read(), scope)
    return scope['__version__']


setup(
    name='tbps',
    version=get_version(),
    description='An OpenMMLab-style toolbox for text-based person search',
    long_description=open('README.md').read() if osp.exists('README.md') else '',
    long_description_content_type='text/markdown',
    packages=find_packages(exclude=('configs', 'tools', 'tests', 'benchmarks')),
    package_data={'tbps': ['datasets/synth/*.txt']},
    include_package_data=True,
    python_requires='>=3.9',
    install_requires=read_requirements('requirements/runtime.txt'),
    extras_require={
        'tests': read_requirements('requirements/tests.txt'),
        'optional': read_requirements('requirements/optional.txt'),
    },
    license='Apache License 2.0',
    zip_safe=False,
)
