"""What ``artgenre-bench`` measures: where a training step's time goes, for one model and image size.

The command line (``artgenre.bench``) parses its flags into a :class:`~artgenre.benchmark.settings.Plan`
and hands it to :func:`~artgenre.benchmark.measure.measure`; everything below it lives here:

- ``settings``: defaults, the ``--gpu`` preset, the plan, its checks, and the training configuration
  artgenre-train would compose for it;
- ``device``: which device, its name, syncs, peak memory and releasing it between models;
- ``paintings``: the generated JPEG paintings (also used by ``scripts/bench_data.py``);
- ``timing``: the progress clock, one timed pass (:class:`Pass`) and how passes are summarised;
- ``training_setup``: model, optimizer and data exactly as artgenre-train builds them;
- ``in_memory``: (a) the ceiling and (a') our loop, over the same batches already on the device;
- ``epochs``: (b) full epochs through the real data path;
- ``study``: (c) the study's way, with its own dataset (``StudyDataset``) and loop;
- ``measure``: one model's phases and peak memory, and every model of a plan;
- ``report``: the one-line description of a plan and the table of figures.
"""
