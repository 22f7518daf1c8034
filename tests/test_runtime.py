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


def test_adam_is_the_fused_kernel_and_agrees_with_plain_adam_to_rounding():
    from course_lib.runtime import adam

    torch.manual_seed(0)
    ours, theirs = torch.nn.Linear(8, 4), torch.nn.Linear(8, 4)
    theirs.load_state_dict(ours.state_dict())
    start = ours.weight.detach().clone()
    fused = adam(ours.parameters(), lr=1e-2, betas=(0.5, 0.999))
    plain = torch.optim.Adam(theirs.parameters(), lr=1e-2, betas=(0.5, 0.999))
    assert fused.defaults["fused"] is True and fused.defaults["betas"] == (0.5, 0.999)
    x = torch.randn(16, 8)
    for _ in range(20):
        for model, optimizer in ((ours, fused), (theirs, plain)):
            optimizer.zero_grad()
            model(x).pow(2).mean().backward()
            optimizer.step()
    assert (ours.weight - start).abs().max() > 0.1  # it trained ...
    gap = max(
        (a - b).abs().max().item()
        for a, b in zip(ours.parameters(), theirs.parameters(), strict=True)
    )
    assert gap < 1e-5  # ... exactly as plain Adam does, to rounding


@pytest.mark.parametrize("lr", [0, -1e-3, True, "fast", float("nan")])
def test_adam_refuses_a_learning_rate_that_is_not_a_positive_number(lr):
    from course_lib.runtime import adam

    with pytest.raises(ValueError, match="learning rate"):
        adam(torch.nn.Linear(2, 2).parameters(), lr=lr)
