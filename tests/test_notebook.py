"""notebooks/quickstart.ipynb runs top to bottom on the smoke run, so it never rots."""
from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "quickstart.ipynb"


def test_quickstart_notebook_runs(smoke_run, monkeypatch):
    monkeypatch.setenv("IIN_RUN_DIR", str(smoke_run.root))  # the notebook's first cell reads it
    monkeypatch.setenv("MPLBACKEND", "Agg")  # figures render without a display
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=180, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    client.execute()  # raises CellExecutionError, with the failing cell and its traceback, on any error
    outputs = "".join(o.get("text", "") for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs)
    assert "Edit(images=(4, 6, 3, 32, 32), logits=(4, 6, 10))" in outputs
    assert "digit swap: predicts the donor" in outputs and "colour draws" in outputs
