"""The prepare step: check every image once, choose and label the classes, split, write the
manifest; and build the pixel cache. No collectives: the caller decides which rank runs it.

Files in ``data.cache_dir`` (default ``<data.root>/.artgenre``; see :func:`files.resolve_cache_dir`):

* ``manifest.csv``  one row per usable image: path, artist, genre, label, class_name, split, ...
* ``excluded.csv``  path, reason: every file left out (damaged, not an image, duplicate, ...)
* ``prepare.json``  the fingerprint the manifest was made for, and the manifest's own hash
* ``checks.csv``    the decode result of every file by (path, size+mtime): a later prepare with
                    another artist selection, label or split decodes nothing again
* ``pixels-*/``     the pixel cache (``data.cache=true``), see :mod:`artgenre.data.loading.cache`

Modules: ``files`` (cache folder, atomic CSV writes), ``checks`` (decoding every file once),
``classes`` (usable images, choosing and labelling classes), ``manifest`` (build, load,
fingerprint: :func:`prepare`), ``summary`` (the report: what prepare found), ``pixels``
(building the pixel cache), ``packing`` (building its packed form).
"""

from __future__ import annotations

from artgenre.data.prepare.manifest import Prepared, prepare
from artgenre.data.prepare.summary import report

__all__ = ["Prepared", "prepare", "report"]
