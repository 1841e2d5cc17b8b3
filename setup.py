"""IMPALA (Espeholt et al., ICML 2018) in TensorFlow: flat modules, as in the release."""

import setuptools

setuptools.setup(
    name='impala-tf',
    version='0.1.0',
    description=('IMPALA: Scalable Distributed Deep-RL with Importance '
                 'Weighted Actor-Learner Architectures, in TensorFlow 2 '
                 '(tf.compat.v1 graphs) and Sonnet 2.'),
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    python_requires='>=3.10,<3.14',
    py_modules=[
        'actor',
        'atari57',
        'checkpoints',
        'config',
        'distributed',
        'dmlab30',
        'environments',
        'experiment',
        'learner',
        'levels',
        'memory',
        'networks',
        'progress',
        'py_process',
        'report',
        'vtrace',
    ],
    install_requires=[
        'tensorflow>=2.16,<2.22',
        'dm-sonnet>=2.0.2,<3',
        'numpy>=1.26',
        'absl-py>=2.0',
        'ale-py>=0.10,<0.13',
        'matplotlib>=3.7',
    ],
    extras_require={
        'test': ['pytest>=8'],
    },
)
