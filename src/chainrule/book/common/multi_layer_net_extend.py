"""The book's ``common/multi_layer_net_extend.py``: ``MultiLayerNetExtend`` (batch norm and dropout)."""

from chainrule.models import MultiLayerNetExtend

__all__ = ["MultiLayerNetExtend"]
