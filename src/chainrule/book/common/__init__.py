"""The book's ``common`` package (``common/functions.py``, ``layers.py``, ``gradient.py``, ``util.py``,
``optimizer.py``, ``multi_layer_net.py``, ``multi_layer_net_extend.py``, ``trainer.py``), on chainrule."""
