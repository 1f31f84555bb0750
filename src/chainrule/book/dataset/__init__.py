"""The book's ``dataset`` package (``dataset/mnist.py``), on chainrule's loaders."""
