"""Tests for course_utils.viz, course_utils.widgets and course_utils.results (headless, Agg backend)."""
import matplotlib

matplotlib.use("Agg")

import json  # noqa: E402
import sys  # noqa: E402
import warnings  # noqa: E402

import nbformat  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib import pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from course_utils import results, viz, widgets  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    with matplotlib.rc_context():
        yield
    plt.close("all")


def title_of(fig):
    suptitle = fig._suptitle.get_text() if fig._suptitle is not None else ""
    return suptitle or fig.axes[0].get_title()


# ---------------------------------------------------------------- viz

def test_use_style_sets_rcparams():
    matplotlib.rcParams["axes.grid"] = False
    matplotlib.rcParams["image.cmap"] = "viridis"
    viz.use_style()
    assert matplotlib.rcParams["axes.grid"] is True
    assert matplotlib.rcParams["image.cmap"] == viz.STYLE["image.cmap"]
    for key, value in viz.STYLE.items():
        got = matplotlib.rcParams[key]
        assert (list(got) if isinstance(got, (list, tuple)) else got) == (
            list(value) if isinstance(value, tuple) else value)


def test_show_images_grey_with_captions():
    images = torch.rand(10, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    captions = [f"digit {i}" for i in range(10)]
    fig = viz.show_images(images, captions=captions, ncols=4, title="Digits")
    assert isinstance(fig, Figure)
    assert title_of(fig) == "Digits"
    assert len(fig.axes) == 12  # 3 rows x 4 columns
    shown = [ax for ax in fig.axes if ax.images]
    assert len(shown) == 10
    assert [ax.get_title() for ax in shown] == captions
    np.testing.assert_allclose(np.asarray(shown[3].images[0].get_array()), images[3, 0].numpy())


def test_show_images_colour_clipped_and_rescaled():
    images = torch.rand(3, 3, 6, 10, generator=torch.Generator().manual_seed(1)) * 4 - 2  # in [-2, 2]
    fig = viz.show_images(images, title="Colour", vmin=-1.0, vmax=1.0)
    assert title_of(fig) == "Colour"
    assert len(fig.axes) == 3
    shown = np.asarray(fig.axes[1].images[0].get_array())
    assert shown.shape == (6, 10, 3)
    expected = np.clip((images[1].permute(1, 2, 0).numpy() + 1) / 2, 0, 1)
    np.testing.assert_allclose(shown, expected, rtol=1e-6, atol=1e-6)


def test_show_images_long_caption_wraps():
    fig = viz.show_images(torch.zeros(2, 1, 8, 8), captions=["a " * 40, "b"], title="Wrapped")
    assert "\n" in fig.axes[0].get_title()
    assert title_of(fig) == "Wrapped"


def test_image_grid_tiles_the_images_with_lines_and_labels():
    images = torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    fig = viz.image_grid(images, nrow=3, row_labels=["a", "b"], col_labels=["x", "y", "z"], title="Grid")
    (ax,) = fig.axes
    tiled = np.asarray(ax.images[0].get_array())
    assert tiled.shape == (2 * 9 + 1, 3 * 9 + 1, 3)  # two rows, three columns, 1-pixel lines
    np.testing.assert_allclose(tiled[1 + 9:1 + 9 + 8, 1 + 2 * 9:1 + 2 * 9 + 8, 0], images[5, 0].numpy(), atol=1e-6)
    assert tiled[0, 0, 0] == 0.5  # the grey line
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["x", "y", "z"]
    np.testing.assert_allclose(ax.get_yticks(), [4.5, 13.5])  # the middle of each row of tiles
    assert ax.get_title() == "Grid"


def test_scatter2d_with_labels_and_centres():
    points = torch.randn(100, 2, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(100) % 8
    from course_utils.data import toy2d

    centres = toy2d.mode_centres("ring8")
    fig = viz.scatter2d(points, labels=labels, centres=centres, title="Ring", lim=3)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert ax.get_title() == "Ring"
    assert ax.get_xlim() == (-3, 3) and ax.get_ylim() == (-3, 3)
    offsets = [c.get_offsets() for c in ax.collections]
    assert len(offsets) == 2
    np.testing.assert_allclose(offsets[0], centres.numpy())
    np.testing.assert_allclose(offsets[1], points.numpy())


def test_scatter2d_on_given_axes():
    fig, axes = plt.subplots(1, 2)
    got = viz.scatter2d(torch.zeros(5, 2), ax=axes[1], title="Right", label="data")
    assert got is fig
    assert axes[1].get_title() == "Right" and len(axes[0].collections) == 0


def test_density2d_from_callable_orientation():
    # a density that is large only where x_1 > 0 and x_2 < 0
    def density(points):
        return ((points[:, 0] > 0) & (points[:, 1] < 0)).float()

    fig = viz.density2d(density, lim=2.0, resolution=20, title="Quadrant")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert ax.get_title() == "Quadrant"
    values = np.asarray(ax.images[0].get_array())
    assert values.shape == (20, 20)
    # rows are x_2 (origin lower), columns are x_1: the mass sits in the lower right
    assert values[:10, 10:].min() == 1 and values[10:, :].max() == 0 and values[:, :10].max() == 0


def test_density2d_from_samples_orientation():
    samples = torch.tensor([[1.5, -1.5]] * 30 + [[-1.5, 0.5]] * 10)
    fig = viz.density2d(samples, lim=2.0, resolution=4, title="Histogram")
    values = np.asarray(fig.axes[0].images[0].get_array())
    # bins of width 1 from -2: x_1 = 1.5 is column 3, x_2 = -1.5 is row 0
    assert values[0, 3] == 30 and values[2, 0] == 10 and values.sum() == 40
    assert fig.axes[0].get_title() == "Histogram"


def test_density2d_log():
    fig = viz.density2d(lambda p: torch.exp(-p.square().sum(1)), resolution=10, log=True, title="Log density")
    values = np.asarray(fig.axes[0].images[0].get_array())
    assert values.max() <= 0  # log of values at most 1
    assert fig.axes[0].get_title() == "Log density"


def test_loss_curve_from_list_default_title():
    fig = viz.loss_curve([3.0, 2.0, 1.5, 1.0])
    ax = fig.axes[0]
    assert ax.get_title() == "Training curve"
    assert ax.get_ylabel() == "loss"
    assert len(ax.lines) == 1
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [3.0, 2.0, 1.5, 1.0])


def test_loss_curve_dict_with_smoothing():
    values = list(np.linspace(5, 1, 40))
    fig = viz.loss_curve({"recon": values, "kl": [0.5] * 40}, smooth=5, title="VAE", log=True)
    ax = fig.axes[0]
    assert ax.get_title() == "VAE"
    assert ax.get_yscale() == "log"
    assert len(ax.lines) == 4  # raw + smoothed per curve
    smoothed = ax.lines[1]
    np.testing.assert_allclose(smoothed.get_ydata(), np.convolve(values, np.ones(5) / 5, "valid"))
    np.testing.assert_array_equal(smoothed.get_xdata(), np.arange(4, 40))
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["recon", "kl"]


def clustered_features(n=60, seed=0):
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 3
    features = torch.randn(n, 10, generator=g) + 4 * torch.nn.functional.one_hot(labels, 10).float()
    return features, labels


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_embedding_scatter_pca_and_tsne(method):
    features, labels = clustered_features()
    fig = viz.embedding_scatter(features, labels, method=method)
    ax = fig.axes[0]
    assert isinstance(fig, Figure)
    assert ax.get_title() == f"{method.upper()} embedding"
    assert ax.get_xlabel() == f"{method.upper()} 1"
    assert len(ax.collections) == 3  # one per class
    assert sum(len(c.get_offsets()) for c in ax.collections) == 60
    # each class is drawn from its own points: per-class counts are 20
    assert [len(c.get_offsets()) for c in ax.collections] == [20, 20, 20]


def test_embedding_scatter_class_names_with_integer_array_labels():
    features, labels = clustered_features()
    fig = viz.embedding_scatter(features, labels.numpy(), class_names=["a", "b", "c"], title="Named")
    ax = fig.axes[0]
    assert ax.get_title() == "Named"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b", "c"]


@pytest.mark.parametrize("class_names, legend", [(["a", "b", "c"], ["a", "b", "c"]), (None, ["0", "1", "2"])],
                         ids=["class-names", "default-names"])
def test_embedding_scatter_legend_with_tensor_labels(class_names, legend):
    features, labels = clustered_features()
    fig = viz.embedding_scatter(features, labels, class_names=class_names)
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == legend


def test_embedding_scatter_pca_matches_sklearn():
    from sklearn.decomposition import PCA

    features = torch.randn(30, 5, generator=torch.Generator().manual_seed(2))
    labels = torch.zeros(30, dtype=torch.long)
    fig = viz.embedding_scatter(features, labels, title="Mine")
    assert fig.axes[0].get_title() == "Mine"
    np.testing.assert_allclose(fig.axes[0].collections[0].get_offsets(),
                               PCA(2, random_state=0).fit_transform(features.numpy()), rtol=1e-4, atol=1e-5)


def test_embedding_scatter_unknown_method():
    with pytest.raises(ValueError, match="umap"):
        viz.embedding_scatter(torch.randn(10, 3), torch.zeros(10, dtype=torch.long), method="umap")


def test_similarity_heatmap():
    matrix = torch.tensor([[1.0, -0.5, 0.0], [0.2, 0.9, -1.0]])
    fig = viz.similarity_heatmap(matrix, row_labels=["x", "y"], col_labels=["a", "b", "c"])
    ax = fig.axes[0]
    assert ax.get_title() == "Similarity matrix"
    np.testing.assert_allclose(np.asarray(ax.images[0].get_array()), matrix.numpy())
    texts = sorted(t.get_text() for t in ax.texts)
    assert texts == sorted(f"{v:.2f}" for v in matrix.flatten().tolist())
    assert [t.get_text() for t in ax.get_yticklabels()] == ["x", "y"]
    fig2 = viz.similarity_heatmap(torch.zeros(12, 12), title="Big")
    assert fig2.axes[0].get_title() == "Big" and not fig2.axes[0].texts  # no numbers in large matrices


# ---------------------------------------------------------------- widgets.explore

def test_explore_needs_a_keyword(monkeypatch):
    monkeypatch.setenv("COURSE_HEADLESS", "1")
    with pytest.raises(ValueError, match="at least one keyword"):
        widgets.explore(lambda: None)
    monkeypatch.delenv("COURSE_HEADLESS")
    with pytest.raises(ValueError):
        widgets.explore(lambda: None)


@pytest.mark.parametrize("value, expected", [("1", True), ("true", True), ("0", False), ("", False)])
def test_headless(monkeypatch, value, expected):
    monkeypatch.setenv("COURSE_HEADLESS", value)
    assert widgets.headless() is expected


def test_explore_headless_static_panels(monkeypatch):
    monkeypatch.setenv("COURSE_HEADLESS", "1")
    calls = []

    def draw(sigma, colour, width):
        calls.append((sigma, colour, width))
        plt.plot([0, 1], [sigma, sigma], color=colour)
        plt.title(f"sigma {sigma}")

    sigmas = [0.1, 0.2, 0.5, 1.0, 2.0, 5.0]
    fig = widgets.explore(draw, static_panels=4, sigma=sigmas, colour=["red", "green", "blue"], width=(1, 2, 3, 4, 5))
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 4
    shown = [c[0] for c in calls]
    assert len(shown) == 4
    assert shown[0] == sigmas[0] and shown[-1] == sigmas[-1]
    assert set(shown) <= set(sigmas) and shown == sorted(shown)
    assert {(c[1], c[2]) for c in calls} == {("green", 3)}  # other keywords at their middle value
    # each panel drew on its own axes
    assert [ax.get_title() for ax in fig.axes] == [f"sigma {s}" for s in shown]
    assert "sigma" in fig._suptitle.get_text()


@pytest.mark.parametrize("n, panels, expected", [
    (10, 4, [0, 3, 6, 9]), (7, 4, [0, 2, 4, 6]), (3, 4, [0, 1, 2]), (1, 4, [0]), (5, 2, [0, 4])])
def test_explore_headless_panel_choice(monkeypatch, n, panels, expected):
    monkeypatch.setenv("COURSE_HEADLESS", "1")
    calls = []
    fig = widgets.explore(lambda k: calls.append(k), static_panels=panels, k=range(n))
    assert calls == expected
    assert len(fig.axes) == len(expected)


def test_explore_interactive_path(monkeypatch, capsys):
    monkeypatch.delenv("COURSE_HEADLESS", raising=False)
    calls = []

    def draw(alpha, beta):
        calls.append((alpha, beta))
        plt.plot([0, 1], [alpha, alpha])

    result = widgets.explore(draw, alpha=[1, 2, 3, 4, 5], beta=[0.1, 0.2, 0.3])
    assert not isinstance(result, Figure)
    assert callable(result) and hasattr(result, "widget")
    controls = result.widget.children
    sliders = {c.description: c for c in controls if hasattr(c, "description") and c.description}
    assert sliders["alpha"].value == 3 and sliders["beta"].value == 0.2  # start at the middle
    assert calls == [(3, 0.2)]  # drawn once at the start
    sliders["alpha"].value = 5
    assert calls[-1] == (5, 0.2)


def test_explore_interactive_menu_for_text_choices(monkeypatch, capsys):
    import ipywidgets

    monkeypatch.delenv("COURSE_HEADLESS", raising=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        result = widgets.explore(lambda kind: plt.plot([0, 1]), kind=["a", "b", "c"])
    menu = result.widget.children[0]
    assert isinstance(menu, ipywidgets.Dropdown)
    assert menu.value == "b"


def test_explore_free_text_takes_what_is_typed(monkeypatch, capsys):
    import ipywidgets

    monkeypatch.delenv("COURSE_HEADLESS", raising=False)
    calls = []
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        result = widgets.explore(lambda prompt, k: calls.append((prompt, k)), free_text=("prompt",),
                                 prompt=["a red star.", "a blue circle.", "a cross."], k=[1, 5])
    box, slider = result.widget.children[:2]
    assert isinstance(box, ipywidgets.Combobox) and isinstance(slider, ipywidgets.SelectionSlider)
    assert box.value == "a blue circle." and list(box.options) == ["a red star.", "a blue circle.", "a cross."]
    box.value = "a small green triangle on the left."  # not among the suggestions
    assert calls[-1] == ("a small green triangle on the left.", 5)


def test_explore_free_text_must_name_a_keyword():
    with pytest.raises(ValueError, match="captoin"):
        widgets.explore(lambda caption: None, free_text=("captoin",), caption=["a red star."])


def test_explore_menu_passes_only_known_options(monkeypatch, capsys):
    monkeypatch.delenv("COURSE_HEADLESS", raising=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        widgets.explore(lambda kind: plt.plot([0, 1]), kind=["a", "b", "c"])


# ---------------------------------------------------------------- results

def test_record_sends_mime_bundle(monkeypatch):
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython, "get_ipython", lambda: object())  # as inside a notebook
    monkeypatch.setattr(IPython.display, "display", lambda *objs, **kw: shown.append((objs, kw)))
    results.record("kNN accuracy", torch.tensor(0.91234567), unit="")
    results.record("modes", np.int64(7), unit="of 8")
    (bundle,), kw = shown[0]
    assert kw.get("raw") is True
    assert bundle[results.MIME]["name"] == "kNN accuracy"
    assert bundle[results.MIME]["value"] == pytest.approx(0.91234567)
    assert type(bundle[results.MIME]["value"]) is float
    assert bundle["text/plain"] == "Result: kNN accuracy = 0.9123"
    (bundle,), _ = shown[1]
    assert bundle[results.MIME] == {"name": "modes", "value": 7, "unit": "of 8"}
    assert bundle["text/plain"] == "Result: modes = 7 of 8"
    json.dumps(bundle)  # the bundle is JSON-serialisable


def test_record_without_ipython_prints_line(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "IPython.display", None)  # import fails like without IPython
    results.record("accuracy", 0.5)
    results.record("datasets", 12, unit="names")
    assert capsys.readouterr().out == "Result: accuracy = 0.5\nResult: datasets = 12 names\n"


def test_record_in_plain_python_prints_line(capsys):
    from IPython.core.interactiveshell import InteractiveShell

    if InteractiveShell.initialized():
        pytest.skip("an IPython shell is running")
    results.record("accuracy", 0.5)
    assert capsys.readouterr().out == "Result: accuracy = 0.5\n"


@pytest.mark.parametrize("value", [object(), {1, 2}, torch.nn.Linear(1, 1)])
def test_record_refuses_values_json_cannot_store(value):
    with pytest.raises(TypeError):
        results.record("bad", value)


def test_read_returns_recorded_results():
    nb = nbformat.v4.new_notebook()
    result_output = nbformat.v4.new_output(
        "display_data", data={results.MIME: {"name": "accuracy", "value": 0.912345, "unit": ""},
                              "text/plain": "Result: accuracy = 0.9123"})
    unit_output = nbformat.v4.new_output(
        "execute_result", execution_count=2,
        data={results.MIME: {"name": "modes", "value": 7, "unit": "of 8"}, "text/plain": "x"})
    other = nbformat.v4.new_output("display_data", data={"text/plain": "Result: fake = 1"})
    stream = nbformat.v4.new_output("stream", name="stdout", text="Result: printed = 2\n")
    code = nbformat.v4.new_code_cell("record(...)", outputs=[stream, result_output, other])
    code2 = nbformat.v4.new_code_cell("record(...)", outputs=[unit_output])
    nb.cells = [nbformat.v4.new_markdown_cell("# Title"), code, nbformat.v4.new_code_cell("1"), code2]
    nbformat.validate(nb)
    assert results.read(nb) == {"accuracy": "0.9123", "modes": "7 of 8"}


def test_read_round_trips_through_a_file(tmp_path, monkeypatch):
    import IPython.display

    bundles = []
    monkeypatch.setattr(IPython, "get_ipython", lambda: object())  # as inside a notebook
    monkeypatch.setattr(IPython.display, "display", lambda obj, raw=False: bundles.append(obj))
    results.record("loss", 0.123456789, unit="nats")
    results.record("name", "ring8")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("", outputs=[nbformat.v4.new_output("display_data", data=b)
                                                       for b in bundles])]
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    assert results.read(nbformat.read(path, as_version=4)) == {"loss": "0.1235 nats", "name": "ring8"}


def test_read_empty_notebook():
    assert results.read(nbformat.v4.new_notebook()) == {}
