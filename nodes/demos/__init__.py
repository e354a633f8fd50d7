"""The two demo models shipped with the pack (no download): ``digits/`` (an SD-style UNet on 8x8
handwritten digits) and ``video/`` (a tiny WAN 2.1 on digits sliding across a canvas); ``shared/``
is what both use (the weights file format, the prompt reader and the text encoder)."""
