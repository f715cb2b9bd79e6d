"""The compiled kernel (src/breachpath/_kernel.c) is built when the package is installed; everything else is in
pyproject.toml."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("breachpath._kernel", ["src/breachpath/_kernel.c"], extra_compile_args=["-std=c11"])])
