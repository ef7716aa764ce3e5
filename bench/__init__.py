"""
juego's benchmarks: real processes, load from a separate process, every figure beside a
reference measured in the same run. Run with C{make bench} (C{python -m bench}).
"""
