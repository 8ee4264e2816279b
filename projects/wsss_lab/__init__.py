"""wsss_lab: the research harness of mmdoei (see README.md beside this file).

* :mod:`.synthetic`: the synthetic VOC/COCO-layout sets of the demo, the tests
  and the benchmarks (the style tables, scene drawing and the two writers);
* :mod:`.data`: :func:`~.data.ensure_synthetic_voc`, such a set written once
  into a work folder as a step with a record (demo, sweep, ``--tiny`` pipeline);
* :mod:`.standin_cams`: CAM files made from GT masks (``tools/check_configs.py``);
* :mod:`.sweep`: the DOEI-effect sweep's grids, paired statistics, summary and plots.

The submodules are imported where they are used, not here, so that e.g. the
generator does not pull in scipy or matplotlib.
"""
