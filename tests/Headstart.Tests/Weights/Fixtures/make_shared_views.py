"""Generates shared_views.legacy.pth and shared_views.zip.pth: tiny state_dicts whose tensors share storages.

Run with torch 1.13 (/usr/bin/python3 here):  python3 make_shared_views.py
The expected values are simple closed forms, re-derived in WeightReaderTests, so the test needs no Python.
"""
import collections
import os
import torch

here = os.path.dirname(os.path.abspath(__file__))
base = torch.arange(24, dtype=torch.float32)            # one storage of 24 floats
sd = collections.OrderedDict()
sd["base"] = base
sd["slice"] = base[4:10]                                 # offset 4, same storage
sd["grid_t"] = base[:12].view(3, 4).t()                  # (4, 3), strides (1, 4): non-contiguous view
sd["every_other"] = base[1::2]                           # stride 2, offset 1
sd["half"] = (torch.arange(6, dtype=torch.float32) / 4).half().view(2, 3)
sd["bf16"] = torch.tensor([1.5, -2.0, 3.25], dtype=torch.bfloat16)
sd["counter"] = torch.tensor(7, dtype=torch.int64)      # 0-dim, like num_batches_tracked
sd["flags"] = torch.tensor([True, False, True])
torch.save(sd, os.path.join(here, "shared_views.legacy.pth"), _use_new_zipfile_serialization=False)
torch.save(sd, os.path.join(here, "shared_views.zip.pth"))
