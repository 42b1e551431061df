"""Qt widgets of the viewer; ``workers`` is the one module that calls the model."""
