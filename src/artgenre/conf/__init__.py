"""The Hydra config tree; a package so that Hydra finds it as pkg://artgenre.conf once installed.

Its YAML files hold presets only; the defaults they build on are registered in Hydra's
ConfigStore by artgenre.config, which importing this package does.
"""

import artgenre.config  # noqa: F401  (registers the `schema` node and the `model` group)
