"""The first stage: the residual VAE at any size divisible by 8, and the protocol a user's autoencoder satisfies."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import open_dict
from torch import nn

from conftest import make_config
from iin.autoencoder import VAE, DiagonalGaussian, check_first_stage
from iin.cli import train
from iin.errors import ConfigError
from iin.losses import vae_loss


def _default_net(size: int) -> nn.Module:
    """The toolkit's default first stage (configs/autoencoder) for RGB images of `size` px."""
    return instantiate(make_config([]).autoencoder.net, in_channels=3, size=size)


def test_default_builds_at_224_px_within_30m_parameters_and_trains():
    net = _default_net(224).train()
    assert sum(p.numel() for p in net.parameters()) <= 30_000_000
    x = torch.rand(2, 3, 224, 224)
    before = [p.detach().clone() for p in net.parameters()]
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    for _ in range(2):  # the residual branches start at zero: their inner layers get gradients from step 2 on
        posterior = net.encode(x)
        loss = vae_loss(x, net.decode(posterior.sample()), posterior, beta=0.1)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        assert torch.isfinite(loss)
    assert all(not torch.equal(b, p) for b, p in zip(before, net.parameters()))


@pytest.mark.parametrize("size", [32, 40, 64, 96, 224])
def test_round_trip_shapes_at_sizes_divisible_by_8(size):
    net = VAE(in_channels=3, size=size, z_dim=8, width=4, res_blocks=1, latent_channels=2).eval()
    x = torch.rand(2, 3, size, size)
    posterior = net.encode(x)
    assert posterior.mean.shape == posterior.logvar.shape == posterior.sample().shape == (2, 8)
    recon = net(x)
    assert recon.shape == x.shape and 0 <= recon.min() and recon.max() <= 1
    check_first_stage(net, channels=3, size=size)


@pytest.mark.parametrize("size, nearest", [(30, "24 or 32"), (33, "32 or 40"), (4, "8")])
def test_sizes_not_divisible_by_8_name_the_nearest_valid_ones(size, nearest):
    with pytest.raises(ConfigError, match=rf"cannot take {size} px images: it needs a size divisible by 8 .* nearest are {nearest} "):
        VAE(size=size)


def test_more_levels_need_a_larger_factor_and_bad_options_are_config_errors():
    assert VAE(size=48, width=4, mults=(1, 2, 2, 2, 2)).encode(torch.rand(1, 3, 48, 48)).mean.shape == (1, 64)
    with pytest.raises(ConfigError, match="divisible by 16"):
        VAE(size=40, width=4, mults=(1, 2, 2, 2, 2))
    with pytest.raises(ConfigError, match="autoencoder.net.norm='layer'"):
        VAE(size=32, norm="layer")


class TinyFirstStage(nn.Module):
    """A 'pretrained' first stage from elsewhere: fixed to 3 x 32 x 32 images, weights loaded from a file."""

    in_channels, size, z_dim = 3, 32, 6

    def __init__(self, weights: str | None = None):
        super().__init__()
        self.enc = nn.Linear(3 * 32 * 32, 2 * self.z_dim)
        self.dec = nn.Linear(self.z_dim, 3 * 32 * 32)
        if weights:
            self.load_state_dict(torch.load(weights, weights_only=True))

    def encode(self, x: torch.Tensor) -> DiagonalGaussian:
        mean, logvar = self.enc(x.flatten(1)).chunk(2, dim=1)  # (B, 3, 32, 32) -> (B, 3072) -> 2 x (B, 6)
        return DiagonalGaussian(mean, logvar)

    def decode(self, zbar: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.dec(zbar)).unflatten(1, (3, 32, 32))  # (B, 3072) -> (B, 3, 32, 32)


class NoDecode(TinyFirstStage):
    decode = None


def _first_stage_run(tmp_path: Path, net: dict, *overrides: str):
    cfg = make_config(["experiment=smoke", f"paths.output_dir={tmp_path}", "stages=[autoencoder]",
                       "autoencoder.epochs=0", *overrides])
    with open_dict(cfg):
        cfg.autoencoder.net = net
    return cfg


def test_pretrained_first_stage_plugs_in_with_epochs_0_and_keeps_its_weights(tmp_path):
    torch.manual_seed(1)
    weights = {k: torch.randn_like(v) for k, v in TinyFirstStage().state_dict().items()}
    torch.save(weights, tmp_path / "pretrained.pt")
    run = train(_first_stage_run(tmp_path, {"_target_": f"{__name__}.TinyFirstStage",
                                            "weights": str(tmp_path / "pretrained.pt")}))
    saved = run.load("autoencoder")
    assert saved["build"] == {"_target_": f"{__name__}.TinyFirstStage", "weights": str(tmp_path / "pretrained.pt")}
    assert all(torch.equal(saved["state_dict"][k], v) for k, v in weights.items())
    assert not run.lightning_dir("autoencoder").exists()  # nothing was trained
    loaded = run.autoencoder()
    assert isinstance(loaded, TinyFirstStage) and torch.equal(loaded.dec.weight, weights["dec.weight"])


def test_first_stage_without_decode_is_one_clear_error(tmp_path):
    cfg = _first_stage_run(tmp_path, {"_target_": f"{__name__}.NoDecode"})
    with pytest.raises(ConfigError, match=r"NoDecode breaks the protocol .*: it lacks decode$") as err:
        train(cfg)
    assert "\n" not in str(err.value) and not (tmp_path / "smoke" / "autoencoder.pt").exists()


def test_protocol_checks_sizes_posterior_and_image_range():
    with pytest.raises(ConfigError, match="takes 32 px images with 3 channel.*data have 64 px and 3"):
        check_first_stage(TinyFirstStage(), channels=3, size=64)

    class Signed(TinyFirstStage):
        def decode(self, zbar):
            return 2 * super().decode(zbar) - 1  # images in [-1, 1]: needs a wrapper

    with pytest.raises(ConfigError, match=r"decode returns values in \[-.*\], expected \[0, 1\]"):
        check_first_stage(Signed(), channels=3, size=32)

    class TupleEncoder(TinyFirstStage):
        def encode(self, x):
            p = super().encode(x)
            return p.mean, p.logvar

    with pytest.raises(ConfigError, match="encode returns a tuple that lacks mean, logvar, sample"):
        check_first_stage(TupleEncoder(), channels=3, size=32)
