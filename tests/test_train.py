"""Tests for course_utils.train: fit(), gradient_step(), to_device() and History."""
from collections import namedtuple

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.data import ArrayDataset
from course_utils.train import History, fit, gradient_step, to_device


def regression_problem(n=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g)
    true_w = torch.tensor([[1.5], [-2.0], [0.5]])
    y = x @ true_w + 0.7 + 0.01 * torch.randn(n, 1, generator=g)
    return x, y


def model_and_step(lr=0.1, seed=0):
    torch.manual_seed(seed)
    model = nn.Linear(3, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    step = gradient_step(optimizer, lambda batch: F.mse_loss(model(batch[0]), batch[1]))
    return model, step


def test_fit_with_steps_lowers_loss():
    x, y = regression_problem()
    model, step = model_and_step()
    batches = [(x[i:i + 32], y[i:i + 32]) for i in range(0, len(x), 32)]
    history = fit(step, batches, steps=100, progress=False)
    assert len(history.loss) == 100
    assert history.loss[-1] < history.loss[0] / 10


def test_fit_with_epochs_over_array_dataset_loader():
    x, y = regression_problem()
    model, step = model_and_step()
    dataset = ArrayDataset(x, y.squeeze(1), [], "reg", "train")
    loader = dataset.loader(batch_size=50)  # 256 / 50 -> 6 batches, the last one short
    assert len(loader) == 6

    def compute_loss(batch):
        inputs, targets = batch
        return F.mse_loss(model(inputs).squeeze(1), targets)

    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    history = fit(gradient_step(optimizer, compute_loss), loader, epochs=5, progress=False)
    assert len(history.loss) == 5 * len(loader)
    assert history.loss[-1] < history.loss[0] / 10
    torch.testing.assert_close(model.weight.detach(), torch.tensor([[1.5, -2.0, 0.5]]), atol=0.05, rtol=0)


def test_fit_with_batch_function():
    x, y = regression_problem()
    model, step = model_and_step()
    g = torch.Generator().manual_seed(1)
    calls = []

    def make_batch():
        calls.append(1)
        index = torch.randint(len(x), (32,), generator=g)
        return x[index], y[index]

    history = fit(step, make_batch, steps=80, progress=False)
    assert len(calls) == 80
    assert len(history.loss) == 80
    assert history.loss[-1] < history.loss[0] / 10


def test_recorded_loss_is_the_step_loss():
    """Every value step returns is recorded, in order, as a float."""
    returned = [torch.tensor(float(i) * 0.5) for i in range(60)]
    iterator = iter(returned)
    history = fit(lambda batch: next(iterator), lambda: None, steps=60, progress=False)
    assert history.loss == [float(v) for v in returned]
    assert all(type(v) is float for v in history.loss)


def test_step_returning_dict_records_every_key():
    counter = {"i": 0}

    def step(batch):
        counter["i"] += 1
        i = counter["i"]
        return {"loss": torch.tensor(1.0 / i), "accuracy": i / 100, "kl": torch.tensor(2.0 * i)}

    history = fit(step, [0, 1, 2], steps=30, progress=False)
    assert set(history.values) == {"loss", "accuracy", "kl"}
    for name in ("loss", "accuracy", "kl"):
        assert len(history[name]) == 30
    assert history["accuracy"] == pytest.approx([i / 100 for i in range(1, 31)])
    assert history["kl"] == pytest.approx([2.0 * i for i in range(1, 31)])
    assert history.loss == history["loss"]


def test_history_loss_without_loss_key_is_first_curve():
    history = fit(lambda b: {"recon": 3.0, "kl": 1.0}, lambda: None, steps=5, progress=False)
    assert history.loss == [3.0] * 5


def test_fit_steps_cycles_over_loader():
    seen = []
    history = fit(lambda b: (seen.append(b), 0.0)[1], [10, 20, 30], steps=7, progress=False)
    assert seen == [10, 20, 30, 10, 20, 30, 10]
    assert len(history.loss) == 7


def test_fit_epochs_iterates_each_batch_per_epoch():
    seen = []
    fit(lambda b: (seen.append(b), 1.0)[1], [1, 2], epochs=3, progress=False)
    assert seen == [1, 2, 1, 2, 1, 2]


def test_fit_needs_exactly_one_of_steps_and_epochs():
    with pytest.raises(ValueError, match="exactly one"):
        fit(lambda b: 0.0, [1, 2], steps=2, epochs=2, progress=False)
    with pytest.raises(ValueError, match="exactly one"):
        fit(lambda b: 0.0, [1, 2], progress=False)


def test_fit_epochs_with_callable_is_refused():
    with pytest.raises(ValueError, match="epochs"):
        fit(lambda b: 0.0, lambda: torch.zeros(1), epochs=2, progress=False)


def test_fit_moves_batches_to_device():
    devices = []

    def step(batch):
        devices.append((batch["x"].device, batch["y"][0].device))
        return 0.0

    fit(step, lambda: {"x": torch.zeros(2), "y": [torch.ones(1)]}, steps=2, device="meta", progress=False)
    assert devices == [(torch.device("meta"), torch.device("meta"))] * 2


def test_fit_with_progress_bar(capsys):
    x, y = regression_problem(64)
    model, step = model_and_step()
    history = fit(step, [(x, y)], steps=30, progress=True, desc="testing")
    assert len(history.loss) == 30
    assert history.loss[-1] < history.loss[0]


def test_amp_on_cpu_is_ignored_and_still_trains():
    x, y = regression_problem()
    model, step = model_and_step()
    dtypes = []

    def step_checking_dtype(batch):
        dtypes.append(model(batch[0]).dtype)
        return step(batch)

    history = fit(step_checking_dtype, [(x, y)], steps=60, amp=True, device="cpu", progress=False)
    assert set(dtypes) == {torch.float32}  # no autocast on the CPU
    assert history.loss[-1] < history.loss[0] / 10


def test_gradient_step_updates_and_zeroes():
    param = nn.Parameter(torch.tensor([1.0, -1.0]))
    optimizer = torch.optim.SGD([param], lr=0.5)
    step = gradient_step(optimizer, lambda batch: (param * batch).sum())
    loss = step(torch.tensor([2.0, 4.0]))
    assert float(loss.detach()) == pytest.approx(1.0 * 2 - 1.0 * 4)
    torch.testing.assert_close(param.detach(), torch.tensor([0.0, -3.0]))  # p - 0.5 * batch
    step(torch.tensor([2.0, 4.0]))  # gradients were zeroed, not accumulated
    torch.testing.assert_close(param.detach(), torch.tensor([-1.0, -5.0]))


# ---------------------------------------------------------------- to_device

def test_to_device_nested_structures():
    batch = {"images": torch.zeros(2, 3), "pair": (torch.ones(1), [torch.ones(2), "caption"]), "n": 3}
    moved = to_device(batch, "meta")
    assert moved["images"].device.type == "meta"
    assert isinstance(moved["pair"], tuple)
    assert moved["pair"][0].device.type == "meta"
    assert isinstance(moved["pair"][1], list)
    assert moved["pair"][1][0].device.type == "meta"
    assert moved["pair"][1][1] == "caption"
    assert moved["n"] == 3
    assert batch["images"].device.type == "cpu"  # the original is untouched


def test_to_device_leaves_non_tensors_alone():
    obj = object()
    assert to_device(obj, "cpu") is obj
    assert to_device("text", "meta") == "text"
    assert to_device(5, "meta") == 5


def test_to_device_none_is_identity():
    batch = (torch.zeros(1), [torch.ones(1)])
    assert to_device(batch, None) is batch


def test_to_device_same_device_keeps_values():
    x = torch.randn(4)
    out = to_device([x], "cpu")
    assert torch.equal(out[0], x)


def test_to_device_namedtuple():
    Pair = namedtuple("Pair", "x y")
    moved = to_device(Pair(torch.zeros(1), torch.ones(1)), "meta")
    assert isinstance(moved, Pair)
    assert moved.x.device.type == "meta"


# ---------------------------------------------------------------- History

def test_history_last_and_loss():
    history = History({"loss": [float(i) for i in range(100)], "acc": [0.5, 1.0]})
    assert history.last() == pytest.approx(sum(range(50, 100)) / 50)
    assert history.last(window=1) == 99.0
    assert history.last("acc") == 0.75
    assert history.last(window=1000) == pytest.approx(49.5)
    assert history.loss == [float(i) for i in range(100)]
    assert history["acc"] == [0.5, 1.0]
    with pytest.raises(KeyError):
        history["missing"]


def test_history_plot_returns_figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    try:
        figure = History({"loss": [3.0, 2.0, 1.0]}).plot(title="curve")
        assert isinstance(figure, plt.Figure)
        assert figure.axes[0].get_title() == "curve"
    finally:
        plt.close("all")
