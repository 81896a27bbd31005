"""Offline and CPU hygiene, applied before torch, Chroma or Gradio are imported.

Measured on the target machine: without HF_HUB_OFFLINE a missing model costs ~70 s
of retries; OMP_WAIT_POLICY=PASSIVE cut query embedding under CPU contention from
~490 ms to ~17 ms. setdefault keeps any value the user chose.
"""

import os

_DEFAULTS = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "OMP_WAIT_POLICY": "PASSIVE",
    "TOKENIZERS_PARALLELISM": "false",
    "ANONYMIZED_TELEMETRY": "False",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "TQDM_MININTERVAL": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
}

for _name, _value in _DEFAULTS.items():
    os.environ.setdefault(_name, _value)
