"""Attribution baselines behind one interface: `Method(model, layer=None, **settings).attribute(x, target)`."""
from .anchors import Anchor, Anchors
from .base import Attribution, AttributionError
from .cam import GradCAM, GuidedGradCAM, HiResCAM
from .deepdream import DeepDream
from .display import normalize, overlay
from .gradient import GuidedBackprop, Saliency
from .perturbation import RISE, Occlusion
from .superpixels import superpixels
from .surrogate import LIME
from .synthesis import ActivationMaximization, FourierImage

METHODS = {cls.__name__: cls for cls in (Saliency, GradCAM, HiResCAM, GuidedBackprop, GuidedGradCAM, Occlusion,
                                         LIME, RISE, Anchors, ActivationMaximization, DeepDream)}

__all__ = ["METHODS", "RISE", "LIME", "ActivationMaximization", "Anchor", "Anchors", "Attribution",
           "AttributionError", "DeepDream", "FourierImage", "GradCAM", "GuidedBackprop", "GuidedGradCAM",
           "HiResCAM", "Occlusion", "Saliency", "normalize", "overlay", "superpixels"]
