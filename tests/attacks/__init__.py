"""
The attack suites, one module per surface; C{tests/test_attacks.py} runs them all.
"""
