import pytest
import torch

from course_lib.models import AutoencoderModel
from course_lib.runtime import device_of, use_threads


def test_use_threads_sets_and_returns_the_previous_count():
    before = torch.get_num_threads()
    try:
        assert use_threads(1) == before
        assert torch.get_num_threads() == 1
        assert use_threads(2) == 1
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_use_threads_sets_numpys_blas_threads_too():
    import numpy  # noqa: F401  (loads the BLAS that threadpoolctl reports)
    from threadpoolctl import threadpool_info

    def blas_threads() -> set[int]:
        return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}

    before = torch.get_num_threads()
    try:
        use_threads(2)
        assert blas_threads() == {2}
        use_threads(1)
        assert blas_threads() == {1}
    finally:
        use_threads(before)


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True])
def test_use_threads_refuses_nonsense(bad):
    with pytest.raises(ValueError, match="thread count"):
        use_threads(bad)


def test_device_of_a_model():
    assert device_of(AutoencoderModel()) == torch.device("cpu")
    assert device_of(torch.nn.ReLU()) == torch.device("cpu")
