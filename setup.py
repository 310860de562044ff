"""Build hook: compiles the librist cffi binding (bondlab.real._librist_cffi) at install time.

All metadata lives in pyproject.toml; this file only wires cffi's setuptools integration. librist-dev
(headers + libraries, librist 0.2.7) is a declared system requirement: without it the build stops
with a message saying so (see bondlab/real/_librist_build.py).
"""

from setuptools import setup

setup(cffi_modules=["bondlab/real/_librist_build.py:ffibuilder"])
