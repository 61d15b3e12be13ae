"""Labeler tests run single-threaded: tiny models gain nothing from more threads, and on a shared CPU
oversubscribed threads make them many times slower."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
