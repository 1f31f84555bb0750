"""_kernels.py: the training path's reductions and label positions equal the NumPy expressions they replace."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainrule._kernels import column_sums, label_positions, row_max, row_sums


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(0, 40),
    c=st.integers(1, 40),
    dtype=st.sampled_from([np.float32, np.float64]),
    seed=st.integers(0, 2**16),
)
def test_row_and_column_reductions_match_numpy(n, c, dtype, seed):
    # row_max takes a transposed copy for narrow rows (c <= 16) and reduces in place otherwise;
    # the sums are matrix-vector products with a cached vector of ones.
    a = (np.random.default_rng(seed).standard_normal((n, c)) * 100).astype(dtype)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    m = row_max(a)
    assert m.dtype == dtype and m.shape == (n,)
    np.testing.assert_array_equal(m, a.max(axis=1))
    rs, cs = row_sums(a), column_sums(a)
    assert rs.dtype == cs.dtype == dtype and rs.shape == (n,) and cs.shape == (c,)
    exact_rows, exact_cols = a.astype(np.float64).sum(axis=1), a.astype(np.float64).sum(axis=0)
    scale_rows = np.abs(a).astype(np.float64).sum(axis=1)
    scale_cols = np.abs(a).astype(np.float64).sum(axis=0)
    assert np.all(np.abs(rs - exact_rows) <= rtol * scale_rows + 1e-30)
    assert np.all(np.abs(cs - exact_cols) <= rtol * scale_cols + 1e-30)


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8, np.uint64])
def test_label_positions_pick_each_rows_label(dtype):
    rng = np.random.default_rng(1)
    a = rng.standard_normal((7, 5))
    t = rng.integers(0, 5, 7).astype(dtype)
    pos = label_positions(t, 5)
    assert pos.dtype == np.intp
    np.testing.assert_array_equal(a.reshape(-1)[pos], a[np.arange(7), t])
    b = a.copy()
    b.reshape(-1)[pos] -= 1.0
    expected = a.copy()
    expected[np.arange(7), t] -= 1.0
    np.testing.assert_array_equal(b, expected)
