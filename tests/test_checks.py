"""_checks.py: validation helpers shared by every public boundary."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainrule._checks import check_labels

INDEX_DTYPES = ["<i1", "<i2", "<i4", "<i8", ">i4", ">i8", "<u1", "<u2", ">u8", "<u8"]


@settings(max_examples=80, deadline=None)
@given(
    dtype=st.sampled_from(INDEX_DTYPES),
    labels=st.lists(st.integers(-130, 130), min_size=1, max_size=12),
    n_classes=st.integers(1, 120),
)
def test_index_labels_are_accepted_exactly_when_in_range(dtype, labels, n_classes):
    dt = np.dtype(dtype)
    info = np.iinfo(dt)
    labels = [v for v in labels if info.min <= v <= info.max] or [0]
    t = np.array(labels, dtype=dt)
    if all(0 <= v < n_classes for v in labels):
        assert check_labels(t, len(labels), n_classes, "test") is t
    else:
        bad = min(labels) if min(labels) < 0 else max(labels)
        with pytest.raises(ValueError, match=rf"labels must lie in \[0, {n_classes - 1}\] .* got {bad}$"):
            check_labels(t, len(labels), n_classes, "test")


def test_strided_labels_are_checked_as_they_are_seen():
    t = np.array([0, -1, 2, 11, 4], dtype=np.int64)
    assert check_labels(t[::2], 3, 5, "test").tolist() == [0, 2, 4]
    with pytest.raises(ValueError, match="got 11"):
        check_labels(t[1::2][1:], 1, 5, "test")
