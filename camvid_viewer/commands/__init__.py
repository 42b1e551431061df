"""The headless commands: one argument parser, one module per command, one-line errors.

``train`` and ``eval`` live in :mod:`model.cli` (they need nothing but the model package);
``predict``, ``bench``, ``export`` and ``download-camvid`` need decoding or drawing and live here.
"""
