"""Loading: prepared images as torch data, the same way for training, evaluation and prediction.

* ``dataset``     Datasets that decode images from the archive or read them from the pixel cache
* ``cache``       the pixel cache's layouts and files, and :class:`~cache.PixelCache` reading them
* ``packed``      the same pixels in a few large shard files (:class:`~packed.PackedCache`), for large sets
* ``transforms``  augmentation presets (``data.augment``): the geometry on uint8 images
* ``pipeline``    :func:`~pipeline.build_datasets` (train, val), ``collate``, and ``DeviceInput`` /
                  ``DeviceBatches``, which make normalised float batches on the device
* ``sampler``     per-rank shard samplers; ``balance``: class-balanced sampling and loss weights
"""
