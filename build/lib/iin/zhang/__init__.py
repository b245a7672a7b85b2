"""Zhang et al.'s interpretable CNN (filter loss, forward mask) and explanatory graph, with their metrics."""
from .evaluate import cnn_metrics, graph_metrics, positives
from .graph import GraphLayer, GraphOptions, graph_from_state, infer_graph, mine_graph
from .loss import apply_mask, filter_loss, mutual_information, template_entropy, templates
from .network import InterpretableConv, ZhangCNN, ZhangConfig
from .train import accuracy, lambda_schedule, predict_maps, train_cnn

__all__ = ["GraphLayer", "GraphOptions", "InterpretableConv", "ZhangCNN", "ZhangConfig", "accuracy", "apply_mask",
           "cnn_metrics", "filter_loss", "graph_from_state", "graph_metrics", "infer_graph", "lambda_schedule",
           "mine_graph", "mutual_information", "positives", "predict_maps", "template_entropy", "templates",
           "train_cnn"]
