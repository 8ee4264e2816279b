"""Analysis of finished runs: :mod:`.compare` (CAM folders side by side) and
:mod:`.mechanism` (what DOEI changes inside a model).

The DOEI-effect sweep (grids, paired statistics, plots) is research harness:
it lives in the repository's ``projects/wsss_lab/sweep.py`` (not installed by pip).
"""
