"""numba kernels: pure array-in/array-out functions, no Tensor, nothing of the package imported.

Each kernel is compiled lazily on first call (``cache=True`` keeps the machine code on disk), so
importing the package never compiles anything.
"""
