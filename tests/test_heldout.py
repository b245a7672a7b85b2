"""The INN stages' held-out rows: a seeded disjoint split, a measure taken as training goes, the best step kept."""
import pytest
import pytorch_lightning as pl
import torch

from iin.batches import Rows, holdout_rows
from iin.errors import ConfigError
from iin.stages.heldout import HeldOut, mean_measure


def test_holdout_rows_are_a_seeded_disjoint_split_bounded_by_max_rows():
    train, held = holdout_rows(1000, 0.05, 1000, seed=3)
    assert len(held) == 50 and len(train) == 950
    assert torch.equal(torch.cat([train, held]).sort().values, torch.arange(1000))
    assert torch.equal(train, train.sort().values) and torch.equal(held, held.sort().values)
    assert torch.equal(held, holdout_rows(1000, 0.05, 1000, seed=3)[1])
    assert not torch.equal(held, holdout_rows(1000, 0.05, 1000, seed=4)[1])
    assert len(holdout_rows(100_000, 0.05, 300, seed=0)[1]) == 300
    assert len(holdout_rows(1000, 0.0, 1000, seed=0)[1]) == 0
    with pytest.raises(ConfigError, match="holdout.share"):
        holdout_rows(10, 1.0, 10, seed=0)


class _Source:
    def __init__(self, n):
        self.values = torch.arange(n, dtype=torch.float32)

    def __len__(self):
        return len(self.values)

    def batch(self, idx):
        return {"x": self.values[idx]}


def test_rows_read_their_share_of_the_source_in_order():
    rows = Rows(_Source(10), torch.tensor([1, 4, 7]))
    assert len(rows) == 3 and rows.batch(torch.tensor([2, 0]))["x"].tolist() == [7.0, 1.0]
    assert [b["x"].tolist() for b in rows.batches(2)] == [[1.0, 4.0], [7.0]]


def test_mean_measure_averages_per_example_and_repeats_its_noise():
    sets = {"train": [{"x": torch.ones(3)}, {"x": torch.ones(1)}], "heldout": [{"x": torch.zeros(2)}]}
    measure = mean_measure(lambda split: sets[split], lambda b, g: b["x"] + torch.rand(len(b["x"]), generator=g), 7)
    first = measure()
    assert first == measure() and 1.0 < first["train"] < 2.0 and 0.0 < first["heldout"] < 1.0


class _Line(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))

    def training_step(self, batch, _idx):
        return ((self.w - 10.0) ** 2).sum()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_the_weights_at_the_lowest_held_out_nll_are_kept(tmp_path):
    """Scripted held-out values 3, 1, 2 at steps 2, 4, 6: the weights of step 4 come back after fit."""
    torch.manual_seed(0)
    module, seen = _Line(), {}
    script = iter([3.0, 1.0, 2.0])

    def measure():
        seen[len(seen) * 2 + 2] = module.w.detach().clone()
        return {"train": 0.0, "heldout": next(script)}

    holdout = HeldOut(measure, every=2, max_steps=6, best_path=tmp_path / "best.pt")
    trainer = pl.Trainer(max_steps=6, callbacks=[holdout], logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(module, train_dataloaders=torch.utils.data.DataLoader(torch.zeros(64, 1), batch_size=1))
    assert sorted(seen) == [2, 4, 6] and not torch.equal(module.w.detach(), seen[4])
    kept = holdout.restore_best(trainer, module)
    assert kept == {"step": 4, "train": 0.0, "heldout": 1.0}
    assert torch.equal(module.w.detach(), seen[4])
    fresh = HeldOut(measure, every=2, max_steps=6, best_path=tmp_path / "best.pt")
    fresh.load_state_dict(holdout.state_dict())  # what a resumed run restores from last.ckpt
    assert fresh.best == kept



def test_concept_codes_of_a_subset_read_their_rows(tmp_path):
    from iin.cache import ShardedArray, ShardWriter
    from iin.concepts import TargetCodes

    values = torch.randn(20, 4)
    writer = ShardWriter(tmp_path / "layer", 20, (4,), "float32", 7 * 16, "fp")
    writer.write(0, values)
    codes = TargetCodes({"layer": ShardedArray(tmp_path / "layer")}, "layer")
    rows = torch.tensor([2, 5, 11, 19])
    sub = codes.subset(rows)
    assert len(sub) == 4 and torch.equal(sub.means(torch.tensor([3, 0])), values[[19, 2]])
    assert torch.equal(torch.cat(list(sub.chunks(3))), values[rows])
    assert torch.equal(sub.subset(torch.tensor([1, 2])).means(torch.arange(2)), values[[5, 11]])
    assert torch.allclose(sub.moments()[0], values[rows].mean(0))
