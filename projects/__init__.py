"""Research projects on top of mmdoei, as mmseg keeps them: imported from the
repository root (``from projects.wsss_lab.synthetic import make_synthetic_voc``),
never installed by pip and never imported by the ``mmdoei`` package."""
