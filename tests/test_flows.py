"""Invertibility three ways (round trip, log-det symmetry, autograd Jacobian) and FactorLoss against closed form."""
import math

import pytest
import torch
from torch.distributions import Normal

from iin.cache import ShardedArray, ShardWriter
from iin.concepts import TargetCodes, estimate_factor_dims
from iin.data import PairSampler
from iin.flows import DisentanglingINN, InvarianceCINN, allocate_dims, constant_units
from iin.flows.embedders import ConvEmbedder, fold_factor
from iin.losses import FactorLoss


def _perturb(module: torch.nn.Module, scale: float = 0.05) -> torch.nn.Module:
    """Move every trainable parameter off its (identity) initialisation so the test is not trivial."""
    with torch.no_grad():
        for p in module.parameters():
            if p.requires_grad:  # the fixed permutations are frozen parameters: keep them orthogonal
                p.add_(scale * torch.randn_like(p))
    return module


@pytest.mark.parametrize("cond_shape", [(10,), (8, 16, 16), (6, 1, 1), (3, 32, 32)])
def test_cinn_round_trip_and_logdet_symmetry(cond_shape):
    cinn = _perturb(InvarianceCINN(16, cond_shape, depth=4, width=32, embed_dim=8, embed_width=16, conv_grid=8))
    x, z = torch.randn(7, 16), torch.randn(7, *cond_shape)
    v, log_det = cinn(x, c=[z])
    back, log_det_rev = cinn(v, c=[z], rev=True)
    assert (back - x).abs().max() < 1e-4
    assert (log_det + log_det_rev).abs().max() < 1e-4
    assert log_det.abs().max() > 1e-3  # the flow is not the identity any more


@pytest.mark.parametrize("size, grid, r", [(64, 16, 4), (224, 16, 14), (32, 16, 2), (28, 16, 1), (16, 16, 1),
                                           (8, 16, 1), (64, None, 1)])
def test_fold_factor_divides_and_keeps_at_least_the_grid(size, grid, r):
    assert fold_factor(size, grid) == r


def test_conv_embedder_folds_a_raw_image_before_its_convolutions():
    folded, plain = ConvEmbedder((3, 64, 64), 8, width=4, grid=16), ConvEmbedder((3, 64, 64), 8, width=4)
    assert isinstance(folded.net[0], torch.nn.PixelUnshuffle) and folded.net[1].in_channels == 48
    assert plain.net[0].in_channels == 3
    # 16 -> 8 -> 4 after the fold, 64 -> 32 -> 16 -> 8 -> 4 without: two strided convolutions fewer
    strided = lambda m: sum(isinstance(l, torch.nn.Conv2d) and l.stride == (2, 2) for l in m.net)
    assert (strided(folded), strided(plain)) == (2, 4)
    assert folded(torch.rand(5, 3, 64, 64)).shape == (5, 8)


def test_blocks_start_at_identity():
    cinn = InvarianceCINN(12, (5,), depth=3, width=16)
    x = torch.randn(4, 12)
    v, log_det = cinn(x, c=[torch.randn(4, 5)])
    assert log_det.abs().max() < 1e-5 and torch.allclose(v.norm(dim=1), x.norm(dim=1), atol=1e-5)


def _autograd_logdet(f, x: torch.Tensor) -> torch.Tensor:
    return torch.stack([torch.linalg.slogdet(torch.autograd.functional.jacobian(f, xi))[1] for xi in x])


def test_cinn_logdet_matches_autograd_jacobian_float64():
    cinn = _perturb(InvarianceCINN(4, (3,), depth=3, width=8, embed_dim=4, embed_width=8)).double()
    x, z = torch.randn(3, 4, dtype=torch.float64), torch.randn(3, 3, dtype=torch.float64)
    _, log_det = cinn(x, c=[z])
    expected = torch.stack([_autograd_logdet(lambda xi: cinn(xi[None], c=[z[i:i + 1]])[0][0], x[i:i + 1])[0]
                            for i in range(3)])
    assert torch.allclose(log_det, expected, atol=1e-8)


def test_dinn_round_trip_and_logdet_float64():
    dinn = _perturb(DisentanglingINN(5, {"a": 2, "b": 1, "residual": 2}, depth=3, width=8)).double()
    dinn.norm.fit(3 * torch.randn(50, 5, dtype=torch.float64) + 1)
    x = torch.randn(4, 5, dtype=torch.float64)
    zt, log_det = dinn(x)
    back, log_det_rev = dinn(zt, rev=True)
    # the stored soft permutations are float32 rotations, so float64 round trips are exact to ~1e-7
    assert (back - x).abs().max() < 1e-6 and (log_det + log_det_rev).abs().max() < 1e-6
    assert torch.allclose(log_det, _autograd_logdet(lambda xi: dinn(xi[None])[0][0], x), atol=1e-8)
    parts = dinn.split(zt)
    assert [p.shape[1] for p in parts.values()] == [2, 1, 2] and torch.equal(dinn.merge(parts), zt)
    assert dinn.mask(torch.tensor([1])).tolist() == [[0, 0, 1, 0, 0]]


def test_dinn_leaves_out_constant_units_and_restores_them():
    z = 2 * torch.randn(40, 6, dtype=torch.float64) + 1
    z[:, 1], z[:, 4] = 0.0, 3.5  # a dead ReLU and a constant unit
    assert constant_units(z) == [1, 4]
    dinn = _perturb(DisentanglingINN(6, {"a": 1, "residual": 3}, depth=2, width=8, constant_units=[1, 4])).double()
    dinn.norm.fit(z)
    zt, log_det = dinn(z)
    assert zt.shape == (40, 4)
    back, log_det_rev = dinn(zt, rev=True)
    assert (back - z).abs().max() < 1e-6 and (log_det + log_det_rev).abs().max() < 1e-6
    varying = [0, 2, 3, 5]

    def on_varying(u):  # T as a map of the varying units, the constant ones held at their value
        full = z[0].clone()
        full[varying] = u
        return dinn(full[None])[0][0]

    assert torch.allclose(log_det[0], _autograd_logdet(on_varying, z[:1, varying])[0], atol=1e-8)
    with pytest.raises(ValueError, match=r"sum to the 4 units of the representation that vary \(6 units, 2 constant"):
        DisentanglingINN(6, {"a": 2, "residual": 4}, constant_units=[1, 4])


def test_factor_loss_matches_closed_form_gaussian():
    rho, dims = 0.9, {"a": 2, "b": 3, "residual": 1}
    dinn = DisentanglingINN(6, dims, depth=1, width=4)
    zt1, zt2 = torch.randn(5, 6), torch.randn(5, 6)
    ld1, ld2, k = torch.randn(5), torch.randn(5), torch.tensor([0, 1, 0, 1, 2])
    mask = dinn.mask(k).bool()
    std = Normal(0.0, 1.0)
    expected = []
    for i in range(5):
        m = mask[i]
        cond = Normal(rho * zt1[i, m], math.sqrt(1 - rho**2)).log_prob(zt2[i, m]).sum()
        expected.append(-std.log_prob(zt1[i]).sum() - ld1[i] - cond - std.log_prob(zt2[i, ~m]).sum() - ld2[i])
    loss = FactorLoss(rho)(zt1, ld1, zt2, ld2, mask.float())
    assert torch.allclose(loss, torch.stack(expected).mean(), atol=1e-5)
    sym = FactorLoss(rho, symmetric=True)(zt1, ld1, zt2, ld2, mask.float())
    swapped = FactorLoss(rho)(zt2, ld2, zt1, ld1, mask.float())
    assert torch.allclose(sym, 0.5 * (loss + swapped), atol=1e-5)
    with pytest.raises(ValueError, match="rho"):
        FactorLoss(1.0)


def test_factor_dims_follow_shared_variance(tmp_path):
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randint(10, (4000,), generator=gen), torch.randint(10, (4000,), generator=gen)
    table_a, table_b = torch.randn(10, 20, generator=gen), torch.randn(10, 20, generator=gen)
    z = 3 * table_a[a] + 0.5 * table_b[b] + torch.randn(4000, 20, generator=gen)
    ShardWriter(tmp_path / "z", 4000, (20,), "float32", 2**14, "test").write(0, z)  # codes stream from the cache
    codes = TargetCodes({"z": ShardedArray(tmp_path / "z")}, "z")
    dims, scores = estimate_factor_dims(codes, PairSampler({"a": a, "b": b}, seed=0), torch.arange(20))
    assert scores["a"] > 0.8 > 0.1 > scores["b"] > 0.0
    assert sum(dims.values()) == 20 and dims["a"] > dims["b"] >= 1


def test_allocate_dims_sums_and_errors():
    dims = allocate_dims({"digit": 0.9, "color": 0.2, "residual": 1.0}, 64)
    assert sum(dims.values()) == 64 and dims["color"] < dims["digit"] < dims["residual"]
    with pytest.raises(ValueError, match="sum to"):
        DisentanglingINN(6, {"a": 2, "residual": 3})
